--[[
crossref.lua: number figures, tables and display equations, and resolve
references to them, the way pandoc-fignos, pandoc-tablenos and pandoc-eqnos
(the pandoc-xnos family that Manubot manuscripts were written for) did.

Syntax (pandoc-xnos):
  ![Caption.](image.png){#fig:id width=50%}      numbered figure
  Table: Caption. {#tbl:id}                      numbered table
  $$ e = mc^2 $$ {#eq:id}                        numbered display equation
  {#fig:id tag="S1"}                             show a tag instead of a number
  {#fig:}                                        numbered, but not referenceable
  @fig:id  +@fig:id  *@fig:id  !@fig:id          plain, "fig. 1", "Figure 1", "1"
  [@fig:a; @fig:b]  or  @fig:a; @fig:b           "1 and 2" ("figs. 1 and 2")

Supplementary numbering: a heading with the class `.supplementary` (or the
attribute `supplementary=true`) starts a supplementary part that lasts until
the next heading of the same or a higher level (a smaller or equal level
number); a Div with that class is supplementary as a whole. Every figure,
table and equation labelled in a supplementary part is numbered S1, S2, ...
in a sequence of its own kind, separate from the main sequence.

Metadata (as pandoc-xnos): <kind>nos-caption-name, <kind>nos-plus-name,
<kind>nos-star-name, <kind>nos-cleveref (or xnos-cleveref, cleveref),
xnos-capitalise (or xnos-capitalize), eqnos-eqref; <kind> is fig, table, eq.

Only Cite elements whose citation ids start with the lowercase prefixes
`fig:`, `tbl:` or `eq:` are touched; every other citation is left alone.

Warnings (the build maps them to file and line, so keep the wording):
  crossref: unknown reference @fig:missing
  crossref: duplicate label fig:x
]]

-- pandoc 3 introduced the Figure block this filter relies on.
if not PANDOC_VERSION or PANDOC_VERSION < {3, 0} then
  error("crossref.lua requires pandoc 3.0 or newer, but this is pandoc "
    .. tostring(PANDOC_VERSION or "(unknown)"), 0)
end

local stringify = pandoc.utils.stringify

local FILTER_NAME = 'crossref'
local NBSP = '\u{00A0}'

-- Output formats. HTML (and anything not listed) gets numbered captions, links
-- and wrapping Divs carrying the ids. JATS and Typst want the id on the figure
-- or table itself (<fig id>, a Typst label). LaTeX numbers with its own
-- \label/\ref, told to print our numbers, so tags and S-numbers survive.
local LATEX = FORMAT == 'latex'
local TYPST = FORMAT == 'typst'
local ID_ON_ELEMENT = LATEX or TYPST or FORMAT:match('^jats') ~= nil

-- pandoc.log arrived in pandoc 3.2; older pandoc 3 gets plain stderr.
local function warn(message)
  local text = FILTER_NAME .. ': ' .. message
  if pandoc.log and pandoc.log.warn then
    pandoc.log.warn(text)
  else
    io.stderr:write('[WARNING] ', text, '\n')
  end
end

-- Run `fn(el)`; if it fails, warn and leave the element as it was (nil).
local function guarded(kind, fn)
  return function (el, ...)
    local ok, result, descend = pcall(fn, el, ...)
    if ok then
      return result, descend
    end
    warn('failed on ' .. kind .. ' element, left unchanged: ' .. tostring(result))
    return nil
  end
end

------------------------------------------------------------------------
-- Options
------------------------------------------------------------------------

-- One entry per kind of label; the defaults are those of pandoc-xnos.
local kinds = {
  fig = {
    prefix = 'fig:', meta = 'fignos', class = 'fignos',
    caption_name = 'Figure',
    plus_name = {'fig.', 'figs.'}, star_name = {'Figure', 'Figures'},
    cleveref = false,
  },
  tbl = {
    prefix = 'tbl:', meta = 'tablenos', class = 'tablenos',
    caption_name = 'Table',
    plus_name = {'table', 'tables'}, star_name = {'Table', 'Tables'},
    cleveref = false,
  },
  eq = {
    prefix = 'eq:', meta = 'eqnos', class = 'eqnos',
    caption_name = 'Equation',
    plus_name = {'eq.', 'eqs.'}, star_name = {'Equation', 'Equations'},
    cleveref = false, eqref = false,
  },
}

-- 'fig', 'tbl' or 'eq' for a label; lowercase prefixes only, as pandoc-xnos.
local function kind_of(label)
  local key = label:match('^(%l+):')
  if key and kinds[key] then
    return key
  end
  return nil
end

local function meta_bool(value)
  if value == nil then
    return nil
  end
  if type(value) == 'boolean' then
    return value
  end
  local text = stringify(value):lower()
  return text == 'true' or text == 'on' or text == 'yes' or text == '1'
end

-- "fig." -> "figs.", "table" -> "tables".
local function pluralise(name)
  if name:sub(-1) == '.' then
    return name:sub(1, -2) .. 's.'
  end
  return name .. 's'
end

-- A name may be given as a string or as a [singular, plural] list.
local function meta_names(value)
  if value == nil then
    return nil
  end
  if pandoc.utils.type(value) == 'List' and #value > 0 then
    local singular = stringify(value[1])
    return {singular, value[2] and stringify(value[2]) or pluralise(singular)}
  end
  local singular = stringify(value)
  return {singular, pluralise(singular)}
end

local function capitalise(name)
  return (name:gsub('^%l', string.upper))
end

local function read_options(meta)
  local default_cleveref = meta_bool(meta['xnos-cleveref'])
  if default_cleveref == nil then
    default_cleveref = meta_bool(meta['cleveref'])
  end
  local capitalise_names = meta_bool(meta['xnos-capitalise'])
    or meta_bool(meta['xnos-capitalize'])

  for _, kind in pairs(kinds) do
    local key = kind.meta
    if meta[key .. '-caption-name'] ~= nil then
      kind.caption_name = stringify(meta[key .. '-caption-name'])
    end
    kind.plus_name = meta_names(meta[key .. '-plus-name']) or kind.plus_name
    kind.star_name = meta_names(meta[key .. '-star-name']) or kind.star_name
    local cleveref = meta_bool(meta[key .. '-cleveref'])
    if cleveref == nil then
      cleveref = default_cleveref
    end
    kind.cleveref = cleveref or false
    if capitalise_names then
      kind.plus_name = {capitalise(kind.plus_name[1]), capitalise(kind.plus_name[2])}
    end
  end
  kinds.eq.eqref = meta_bool(meta['eqnos-eqref']) or false
end

------------------------------------------------------------------------
-- Attribute text that pandoc left unparsed ("{#eq:id tag="B.1"}")
------------------------------------------------------------------------

-- Rebuild the source text of inlines well enough to re-read attributes.
local function source_text(inlines)
  local parts = {}
  for _, el in ipairs(inlines) do
    if el.t == 'Str' then
      parts[#parts + 1] = el.text
    elseif el.t == 'Space' or el.t == 'SoftBreak' or el.t == 'LineBreak' then
      parts[#parts + 1] = ' '
    elseif el.t == 'Quoted' then
      local q = el.quotetype == 'DoubleQuote' and '"' or "'"
      parts[#parts + 1] = q .. source_text(el.content) .. q
    elseif el.t == 'Math' then
      parts[#parts + 1] = '$' .. el.text .. '$'
    else
      parts[#parts + 1] = stringify(el)
    end
  end
  return table.concat(parts)
end

-- Parse "{#id .class key=value key="quoted value"}" leniently: pandoc-xnos
-- accepted "{#tbl: junk}" as the unnamed label "tbl:", so junk is skipped.
local function parse_attr(text)
  local body = text:match('^%s*{(.*)}%s*$')
  if not body then
    return nil
  end
  local id, classes, attributes = '', {}, {}
  local pos = 1
  while pos <= #body do
    local s, e, value
    s, e = body:find('^%s+', pos)
    if s then
      pos = e + 1
    else
      s, e, value = body:find('^#([^%s}]*)', pos)
      if s then
        id = value
      else
        s, e, value = body:find('^%.([^%s}]+)', pos)
        if s then
          classes[#classes + 1] = value
        else
          local key, quoted
          s, e, key, quoted = body:find('^([%w_%-:]+)="([^"]*)"', pos)
          if not s then
            s, e, key, quoted = body:find("^([%w_%-:]+)='([^']*)'", pos)
          end
          if not s then
            s, e, key, quoted = body:find('^([%w_%-:]+)=([^%s}]*)', pos)
          end
          if s then
            attributes[#attributes + 1] = {key, quoted}
          else
            s, e = body:find('^%S+', pos)  -- junk word: skip it
          end
        end
      end
      pos = e + 1
    end
  end
  return pandoc.Attr(id, classes, attributes)
end

-- If inlines[i..] is an attribute block "{#prefix...}", return the parsed
-- Attr and the index of its last inline.
local function attr_block_at(inlines, i, prefix)
  local first = inlines[i]
  if not first or first.t ~= 'Str' or first.text:sub(1, 2 + #prefix) ~= '{#' .. prefix then
    return nil
  end
  for j = i, #inlines do
    local el = inlines[j]
    if el.t == 'Str' and el.text:sub(-1) == '}' then
      local slice = pandoc.Inlines({})
      for k = i, j do
        slice:insert(inlines[k])
      end
      local attr = parse_attr(source_text(slice))
      if attr then
        return attr, j
      end
    end
  end
  return nil
end

------------------------------------------------------------------------
-- Pass 2: number every label in document order
------------------------------------------------------------------------

-- label -> {kind = 'fig', text = '1'}; filled before any reference is
-- resolved, so forward references work.
local labels = {}
local counters = {}        -- kind -> main counter
local supp_counters = {}   -- kind -> supplementary counter
local unnamed = 0          -- for ids of unreferenceable "{#fig:}" labels
local supplementary_level = nil  -- heading level that opened the supplement
local supplementary_divs = 0     -- depth of supplementary Divs being walked

local function in_supplement()
  return supplementary_level ~= nil or supplementary_divs > 0
end

local function is_supplementary(el)
  return el.classes:includes('supplementary')
    or meta_bool(el.attributes['supplementary']) == true
end

-- Assign the number (or tag) for a label and return its display text
-- and the id to use in the output.
local function register(kind_key, attr)
  local label = attr.identifier
  local id = label
  local tag = attr.attributes['tag']
  local text
  if tag and tag ~= '' then
    text = tag  -- tags do not consume a number
  elseif in_supplement() then
    supp_counters[kind_key] = (supp_counters[kind_key] or 0) + 1
    text = 'S' .. supp_counters[kind_key]
  else
    counters[kind_key] = (counters[kind_key] or 0) + 1
    text = tostring(counters[kind_key])
  end
  if label == kinds[kind_key].prefix then
    unnamed = unnamed + 1
    id = label .. '__unnamed-' .. unnamed
  elseif labels[label] then
    warn('duplicate label ' .. label)
  else
    labels[label] = {kind = kind_key, text = text}
  end
  return text, id
end

-- Tag text that is inline math ("$B.1'$") stays math, as in pandoc-xnos.
local function tag_inlines(text)
  local math = text:match('^%$(.+)%$$')
  if math then
    return {pandoc.Math('InlineMath', math)}
  end
  return {pandoc.Str(text)}
end

-- The attributes without the id and "tag" (consumed here), in their order.
-- "Figure 1:" as a Span, as pandoc-fignos wrote it.
local function caption_prefix(kind_key, text)
  local inlines = pandoc.Inlines({pandoc.Str(kinds[kind_key].caption_name .. NBSP)})
  inlines:extend(tag_inlines(text))
  inlines:insert(pandoc.Str(':'))
  return pandoc.Span(inlines)
end

local function prefix_caption_blocks(blocks, prefix)
  if #blocks > 0 and (blocks[1].t == 'Plain' or blocks[1].t == 'Para') then
    blocks[1].content:insert(1, pandoc.Space())
    blocks[1].content:insert(1, prefix)
  else
    blocks:insert(1, pandoc.Plain({prefix}))
  end
  return blocks
end

local function clean_attr(attr)
  local attributes = {}
  for _, kv in ipairs(attr.attributes) do
    if kv[1] ~= 'tag' then
      attributes[#attributes + 1] = {kv[1], kv[2]}
    end
  end
  return pandoc.Attr('', attr.classes, attributes)
end

-- LaTeX counter names and the command naming a kind in captions.
local LATEX_COUNTER = {fig = {'figure', 'figurename'}, tbl = {'table', 'tablename'}}

-- A number or tag as LaTeX source ("S1", or the math of a "$B.1'$" tag).
local function latex_text(text)
  if text:match('^%$.+%$$') then
    return text
  end
  return (text:gsub('[\\{}%%#&_^~$]', '\\%0'))
end

-- The figure or table itself carries the id. In LaTeX, the caption and every
-- \ref print our number (or tag) and caption name instead of LaTeX's count.
local function element_with_id(el, kind_key, text, id)
  el.attr = clean_attr(el.attr)
  el.identifier = id
  if not LATEX then
    el.caption.long = prefix_caption_blocks(el.caption.long, caption_prefix(kind_key, text))
    return el
  end
  local counter, name = table.unpack(LATEX_COUNTER[kind_key])
  local set = string.format('\\renewcommand{\\the%s}{%s}\\renewcommand{\\%s}{%s}',
    counter, latex_text(text), name, kinds[kind_key].caption_name)
  return {pandoc.RawBlock('latex', set), el}
end

local function number_figure(fig)
  if kind_of(fig.identifier) ~= 'fig' then
    return nil
  end
  -- pandoc 3 gives the figure only the id; "tag" lands on the image.
  local attr = fig.attr:clone()
  fig.content = fig.content:walk {
    Image = function (img)
      local tag = img.attributes['tag']
      if tag then
        attr.attributes['tag'] = attr.attributes['tag'] or tag
        img.attr = clean_attr(img.attr)
        return img
      end
    end,
  }
  local text, id = register('fig', attr)
  if ID_ON_ELEMENT then
    return element_with_id(fig, 'fig', text, id)
  end
  local caption_text = stringify(fig.caption.long)
  local prefix = caption_prefix('fig', text)
  -- pandoc marks the caption aria-hidden when the image's alt text repeats
  -- it; keep them equal (as pandoc-fignos did) so that still holds.
  fig.content = fig.content:walk {
    Image = function (img)
      if stringify(img.caption) == caption_text then
        img.caption:insert(1, pandoc.Space())
        img.caption:insert(1, pandoc.Str(kinds.fig.caption_name .. NBSP .. text .. ':'))
      end
      return img
    end,
  }
  fig.caption.long = prefix_caption_blocks(fig.caption.long, prefix)
  fig.attr = clean_attr(fig.attr)
  return pandoc.Div({fig}, pandoc.Attr(id, {kinds.fig.class}))
end

-- A lone image in a paragraph (implicit_figures off): make it a figure.
local function number_image_para(para)
  if #para.content ~= 1 or para.content[1].t ~= 'Image' then
    return nil
  end
  local img = para.content[1]
  if kind_of(img.identifier) ~= 'fig' then
    return nil
  end
  local fig = pandoc.Figure(
    pandoc.Plain({img:clone()}),
    pandoc.Caption(pandoc.Blocks({pandoc.Plain(img.caption:clone())})),
    pandoc.Attr(img.identifier, {}, img.attributes['tag'] and {{'tag', img.attributes['tag']}} or {}))
  fig.content[1].content[1].attr = clean_attr(img.attr)
  return number_figure(fig)
end

-- pandoc 3 reads "{#tbl:id}" after a caption itself; pandoc-xnos also
-- accepted attributes pandoc cannot read ("{#tbl: x}"), left as caption text.
local function table_attr_from_caption(tbl)
  local blocks = tbl.caption.long
  local last = blocks[#blocks]
  if not last or (last.t ~= 'Plain' and last.t ~= 'Para') then
    return nil
  end
  local inlines = last.content
  for i = #inlines, 1, -1 do
    local attr, j = attr_block_at(inlines, i, 'tbl:')
    if attr and j == #inlines then
      local kept = pandoc.Inlines({})
      for k = 1, i - 1 do
        kept:insert(inlines[k])
      end
      while #kept > 0 and (kept[#kept].t == 'Space' or kept[#kept].t == 'SoftBreak') do
        kept:remove()
      end
      last.content = kept
      return attr
    end
  end
  return nil
end

local function number_table(tbl)
  if kind_of(tbl.identifier) ~= 'tbl' then
    local attr = table_attr_from_caption(tbl)
    if not attr then
      return nil
    end
    tbl.attr = attr
  end
  local text, id = register('tbl', tbl.attr)
  if ID_ON_ELEMENT then
    return element_with_id(tbl, 'tbl', text, id)
  end
  tbl.caption.long = prefix_caption_blocks(tbl.caption.long, caption_prefix('tbl', text))
  tbl.attr = clean_attr(tbl.attr)
  return pandoc.Div({tbl}, pandoc.Attr(id, {kinds.tbl.class}))
end

-- Display math followed by "{#eq:...}" (pandoc parses the attributes as
-- text) becomes a numbered equation span.
local function number_equations(block)
  local inlines = block.content
  local out = pandoc.Inlines({})
  local changed = false
  local i = 1
  while i <= #inlines do
    local el = inlines[i]
    local attr, last
    if el.t == 'Math' and el.mathtype == 'DisplayMath' then
      local start = i + 1
      if inlines[start] and inlines[start].t == 'Space' then
        start = start + 1
      end
      attr, last = attr_block_at(inlines, start, 'eq:')
    end
    if attr and LATEX then
      local text, id = register('eq', attr)
      out:insert(pandoc.RawInline('latex', string.format(
        '\\begin{equation}%s\\tag{%s}\\label{%s}\\end{equation}',
        el.text, latex_text(text), id)))
      changed = true
      i = last + 1
    elseif attr and TYPST then
      -- Typst numbers the equation itself (right-aligned), with our number as text.
      local text, id = register('eq', attr)
      local number = text:gsub('^%$(.+)%$$', '%1'):gsub('[\\"]', '\\%0')
      out:insert(pandoc.RawInline('typst', string.format(
        '#[#set math.equation(numbering: _ => "(%s)");', number)))
      out:insert(el)
      out:insert(pandoc.RawInline('typst', string.format(' <%s>]', id)))
      changed = true
      i = last + 1
    elseif attr then
      local text, id = register('eq', attr)
      local number_text = pandoc.Inlines({pandoc.Str('(')})
      number_text:extend(tag_inlines(text))
      number_text:insert(pandoc.Str(')'))
      local number = pandoc.Span(number_text, pandoc.Attr('', {'eqnos-number'}))
      local a = clean_attr(attr)
      a.identifier = id
      a.classes:insert(1, kinds.eq.class)
      out:insert(pandoc.Span({el, number}, a))
      changed = true
      i = last + 1
    else
      out:insert(el)
      i = i + 1
    end
  end
  if changed then
    block.content = out
    return block
  end
  return nil
end

-- Walked top-down, so labels are met in document order.
local function index_labels(doc)
  local numbering
  numbering = {
    traverse = 'topdown',
    Header = guarded('Header', function (h)
      if supplementary_level and h.level <= supplementary_level then
        supplementary_level = nil
      end
      if is_supplementary(h) then
        supplementary_level = h.level
      end
      return nil
    end),
    Div = guarded('Div', function (div)
      if not is_supplementary(div) then
        return nil
      end
      supplementary_divs = supplementary_divs + 1
      -- walk() applies the filter to the Div's children, not the Div itself.
      local ok, result = pcall(function () return div:walk(numbering) end)
      supplementary_divs = supplementary_divs - 1
      if not ok then
        error(result, 0)
      end
      return result, false
    end),
    Figure = guarded('Figure', function (fig)
      -- The figure's own children are not searched for further labels.
      local result = number_figure(fig)
      return result, result == nil
    end),
    Table = guarded('Table', function (tbl)
      local result = number_table(tbl)
      if result then
        return result, false
      end
      return nil
    end),
    Para = guarded('Para', function (para)
      return number_image_para(para) or number_equations(para)
    end),
    Plain = guarded('Plain', number_equations),
  }
  return doc:walk(numbering)
end

------------------------------------------------------------------------
-- Pass 3: resolve references
------------------------------------------------------------------------

local function is_xref(citation)
  return kind_of(citation.id) ~= nil
end

local function reference_link(label)
  local entry = labels[label]
  if not entry then
    warn('unknown reference @' .. label)
    return pandoc.Link({pandoc.Str('??')}, '#' .. label, '', pandoc.Attr('', {'xref-unknown'}))
  end
  local text = entry.text
  if LATEX then  -- \ref prints the number given to the label (and links it)
    local ref = entry.kind == 'eq' and kinds.eq.eqref and '\\eqref{' or '\\ref{'
    return pandoc.RawInline('latex', ref .. label .. '}')
  end
  if entry.kind == 'eq' and kinds.eq.eqref then
    text = '(' .. text .. ')'
  end
  return pandoc.Link(tag_inlines(text), '#' .. label)
end

-- "1", "1 and 2", "1, 2 and 3" (pandoc-xnos joins lists this way).
local function join_links(links)
  local out = pandoc.Inlines({})
  for n, link in ipairs(links) do
    if n > 1 then
      if n == #links then
        out:extend({pandoc.Space(), pandoc.Str('and'), pandoc.Space()})
      else
        out:extend({pandoc.Str(','), pandoc.Space()})
      end
    end
    out:insert(link)
  end
  return out
end

-- Render the references `ids` with a modifier ('+', '*', '!' or nil).
local function render_references(ids, modifier)
  local kind = kinds[kind_of(ids[1])]
  local links = {}
  for n, id in ipairs(ids) do
    links[n] = reference_link(id)
  end
  local clever = modifier == '+' or modifier == '*'
    or (modifier == nil and kind.cleveref)
  local out = join_links(links)
  if clever then
    local names = modifier == '*' and kind.star_name or kind.plus_name
    local name = #ids > 1 and names[2] or names[1]
    out:insert(1, pandoc.Str(name .. NBSP))
  end
  return out
end

local MODIFIERS = {['+'] = true, ['*'] = true, ['!'] = true}

-- Text of a Cite that keeps only the (non-crossref) citations given.
local function citation_source(citations)
  local parts = {}
  for _, c in ipairs(citations) do
    parts[#parts + 1] = (c.mode == 'SuppressAuthor' and '-@' or '@') .. c.id
  end
  if citations[1].mode == 'AuthorInText' and #citations == 1 then
    return parts[1]
  end
  return '[' .. table.concat(parts, '; ') .. ']'
end

-- Split a Cite into runs of crossref and ordinary citations.
local function cite_runs(cite)
  local runs = {}
  for _, c in ipairs(cite.citations) do
    local xref = is_xref(c)
    local run = runs[#runs]
    if not run or run.xref ~= xref then
      run = {xref = xref, citations = {}}
      runs[#runs + 1] = run
    end
    run.citations[#run.citations + 1] = c
  end
  return runs
end

-- One run of a Cite split by kind: cross-references become links, citations stay.
local function render_run(run)
  if run.xref then
    local ids = {}
    for _, c in ipairs(run.citations) do
      ids[#ids + 1] = c.id
    end
    return render_references(ids, nil)
  end
  return pandoc.Inlines {pandoc.Cite({pandoc.Str(citation_source(run.citations))}, run.citations)}
end

local function resolve_inlines(inlines)
  local out = pandoc.Inlines({})
  local changed = false
  local i = 1
  while i <= #inlines do
    local el = inlines[i]
    if el.t == 'Cite' and is_xref(el.citations[1]) then
      -- Modifier: the last character of the preceding text ("+@fig:a"),
      -- or the prefix of the first citation in brackets ("[+@fig:a; ...]").
      local modifier
      local prev = out[#out]
      local brace = false
      if prev and prev.t == 'Str' then
        local text = prev.text
        if MODIFIERS[text:sub(-1)] then
          modifier = text:sub(-1)
          text = text:sub(1, -2)
        end
        if text:sub(-1) == '{' and inlines[i + 1] and inlines[i + 1].t == 'Str'
            and inlines[i + 1].text:sub(1, 1) == '}' then
          brace = true  -- "{+@fig:a}" protects a reference; drop the braces
          text = text:sub(1, -2)
        end
        if text == '' then
          out:remove()
        else
          prev.text = text
        end
      end
      local first_prefix = stringify(el.citations[1].prefix)
      if MODIFIERS[first_prefix] then
        modifier = first_prefix
      end

      local runs = cite_runs(el)
      local ids = {}
      for _, c in ipairs(runs[1].citations) do
        ids[#ids + 1] = c.id
      end
      local next_index = i + 1
      if brace then
        local after = inlines[next_index].text:sub(2)
        if after == '' then
          next_index = next_index + 1
        else
          inlines[next_index] = pandoc.Str(after)
        end
      end
      -- "@fig:a; @fig:b" (separate Cites) is one list, as in pandoc-xnos.
      while #runs == 1 and not brace
          and inlines[next_index] and inlines[next_index].t == 'Str'
          and inlines[next_index].text == ';'
          and inlines[next_index + 1] and inlines[next_index + 1].t == 'Space'
          and inlines[next_index + 2] and inlines[next_index + 2].t == 'Cite'
          and is_xref(inlines[next_index + 2].citations[1]) do
        local following = cite_runs(inlines[next_index + 2])
        for _, c in ipairs(following[1].citations) do
          ids[#ids + 1] = c.id
        end
        runs = following
        next_index = next_index + 3
      end
      out:extend(render_references(ids, modifier))
      -- Ordinary citations merged into the same Cite stay citations.
      for r = 2, #runs do
        out:insert(pandoc.Space())
        out:extend(render_run(runs[r]))
      end
      changed = true
      i = next_index
    elseif el.t == 'Cite' then
      local runs = cite_runs(el)
      if #runs > 1 then
        for r, run in ipairs(runs) do
          if r > 1 then
            out:insert(pandoc.Str(';'))
            out:insert(pandoc.Space())
          end
          out:extend(render_run(run))
        end
        changed = true
      else
        out:insert(el)
      end
      i = i + 1
    else
      out:insert(el)
      i = i + 1
    end
  end
  if changed then
    return out
  end
  return nil
end

local function resolve_references(doc)
  return doc:walk {
    Inlines = guarded('Inlines', resolve_inlines),
  }
end

return {
  {Meta = read_options},
  {Pandoc = index_labels},
  {Pandoc = resolve_references},
}
