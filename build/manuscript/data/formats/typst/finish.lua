--[[
finish.lua: the last filter of the Typst PDF's pandoc run (after crossref.lua and
citeproc; see manuscript/formats/typst_pdf.py).

1. Math: every Math element becomes a call of the template's `mjx` function with the
   id of its MathJax SVG (manuscript/formats/typst_math.py), so the Typst PDF draws the
   formulas the page and the WeasyPrint PDF draw. The metadata field
   `manuscript-typst-math` names a JSON file mapping "D<TeX>"/"I<TeX>" to ids. A
   numbered equation (crossref.lua writes `#[#set math.equation(numbering: ...);`,
   the Math, ` <eq:id>]`) keeps its number and its label.
2. Labels: Typst stops at a link to a label that no element has, where a browser
   shrugs. pandoc's writer labels headings, divs, figures and tables itself; the id of
   anything else that may be linked to (a span, an image in a line, code) becomes an
   invisible `metadata` anchor (a span's own label would attach to the element before
   it when the span is empty). Then a link to an id nowhere in the document (a figure
   in a part the formats leave out, crossref's "??" for an unknown reference) keeps its
   text and loses the link, as in the HTML, where the build warned about it already.
]]

local stringify = pandoc.utils.stringify

local function typst_string(text)
  return '"' .. text:gsub('[\\"]', '\\%0'):gsub('\n', '\\n'):gsub('\r', '\\r'):gsub('\t', '\\t') .. '"'
end

local function anchor(id)
  return '#metadata(none)#label(' .. typst_string(id) .. ')'
end

local function read_table(meta)
  local path = meta['manuscript-typst-math']
  if path == nil then
    return {}
  end
  local file = assert(io.open(stringify(path), 'r'))
  local table = pandoc.json.decode(file:read('a'), false)
  file:close()
  meta['manuscript-typst-math'] = nil
  return table
end

local function key(el)
  return (el.mathtype == 'DisplayMath' and 'D' or 'I') .. el.text
end

local WORD_JOINER = '\u{2060}'
local OPEN = '^#%[#set math%.equation%(numbering: _ => (".*")%);$'
local CLOSE = '^ <(.+)>%]$'

local function is_raw(el, pattern)
  return el and el.t == 'RawInline' and el.format == 'typst' and el.text:match(pattern)
end

local ids = {}

local function math_inlines(table)
  return function (inlines)
    local out = pandoc.Inlines({})
    local changed = false
    local i = 1
    while i <= #inlines do
      local el = inlines[i]
      local number = is_raw(el, OPEN)
      local math, close = inlines[i + 1], inlines[i + 2]
      if number and math and math.t == 'Math' and table[key(math)] and is_raw(close, CLOSE) then
        local id = close.text:match(CLOSE)
        ids[id] = true
        out:insert(pandoc.RawInline('typst', anchor(id) .. '#mjx("' .. table[key(math)]
          .. '", number: ' .. number .. ');'))
        changed = true
        i = i + 3
      elseif el.t == 'Math' and table[key(el)] then
        -- A formula written against a word ("$P$-value", "($x$)") stays on its line
        -- with it, as in a browser: a word joiner on that side.
        local before = i > 1 and inlines[i - 1].t == 'Str' and WORD_JOINER or ''
        local after = inlines[i + 1] and inlines[i + 1].t == 'Str' and WORD_JOINER or ''
        out:insert(pandoc.RawInline('typst', before .. '#mjx("' .. table[key(el)] .. '");'
          .. after))
        changed = true
        i = i + 1
      else
        out:insert(el)
        i = i + 1
      end
    end
    return changed and out or nil
  end
end

-- Elements pandoc's Typst writer gives a label of their own.
local LABELLED = {Header = true, Div = true, Figure = true, Table = true}

-- An element with an id, as its own Typst anchor (``raw``: RawInline or RawBlock) and
-- the element without the id.
local function anchored(raw)
  return function (el)
    if el.identifier == nil or el.identifier == '' then
      return nil
    end
    local id = el.identifier
    ids[id] = true
    el.identifier = ''
    return {raw('typst', anchor(id)), el}
  end
end

local anchored_inline = anchored(pandoc.RawInline)

local function collect_id(el)
  if el.identifier and el.identifier ~= '' then
    ids[el.identifier] = true
  end
end

local function raw_labels(el)
  if el.format == 'typst' then  -- labels an author wrote in raw Typst
    for id in el.text:gmatch('<([%w_%-%.:]+)>') do
      ids[id] = true
    end
    for id in el.text:gmatch('label%("([^"\\]*)"%)') do
      ids[id] = true
    end
  end
end

local function unlink(link)
  local target = link.target
  if target:sub(1, 1) ~= '#' then
    return nil
  end
  local id = target:sub(2)
  if id == '' or not ids[id] then
    return pandoc.Span(link.content)
  end
  return nil
end

local function finish(doc)
  local table = read_table(doc.meta)
  doc = doc:walk {Inlines = math_inlines(table)}
  doc = doc:walk {
    Span = anchored_inline, Image = anchored_inline, Code = anchored_inline,
    Link = anchored_inline,
    CodeBlock = anchored(pandoc.RawBlock),
  }
  local collect = {RawInline = raw_labels, RawBlock = raw_labels}
  for name in pairs(LABELLED) do
    collect[name] = collect_id
  end
  doc:walk(collect)
  return doc:walk {Link = unlink}
end

return {
  {Pandoc = finish},
}
