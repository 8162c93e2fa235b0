--[[
math.lua: put the formulas typeset by build/manuscript/math.py (MathJax SVG) in
place of pandoc's Math elements, and give headings that hold math a text form for
the PDF's bookmarks (WeasyPrint would otherwise drop the formula from them).

Runs after crossref.lua, so numbered equations keep their Span, id and number.
The metadata field `manuscript-math` names a JSON file mapping "D<TeX>" (display)
and "I<TeX>" (inline) to HTML; it is removed from the metadata. A formula missing
from the table (none is, unless a filter made it) is left to pandoc's MathML.
]]

local stringify = pandoc.utils.stringify

local function read_table(meta)
  local typeset = {}
  local path = meta['manuscript-math']
  if path == nil then
    return typeset, meta
  end
  local file = assert(io.open(stringify(path), 'r'))
  typeset = pandoc.json.decode(file:read('a'), false)
  file:close()
  meta['manuscript-math'] = nil
  return typeset, meta
end

local function key(el)
  return (el.mathtype == 'DisplayMath' and 'D' or 'I') .. el.text
end

-- The heading's text with each formula as its TeX: "Sums $\sum_i x_i$ in brief".
local function bookmark_text(header)
  local has_math = false
  local text = stringify(header.content:walk {
    Math = function (m)
      has_math = true
      return pandoc.Str('$' .. m.text .. '$')
    end,
  })
  return has_math and text or nil
end

local function mark_header(header)
  local text = bookmark_text(header)
  if text then
    header.attributes['data-bookmark'] = text
    return header
  end
  return nil
end

local function replace_math(typeset)
  return function (el)
    local html = typeset[key(el)]
    if html then
      return pandoc.RawInline('html', html)
    end
    return nil
  end
end

local function typeset_math(doc)
  local typeset, meta = read_table(doc.meta)
  doc.meta = meta
  doc = doc:walk { Header = mark_header }
  return doc:walk { Math = replace_math(typeset) }
end

return {
  {Pandoc = typeset_math},
}
