--[[
crossref.lua: number figures, tables and display equations, and resolve
references to them and to sections, the way pandoc-fignos, pandoc-tablenos,
pandoc-eqnos and pandoc-secnos (the pandoc-xnos family that Manubot
manuscripts were written for) did.

Syntax (pandoc-xnos):
  ![Caption.](image.png){#fig:id width=50%}      numbered figure
  Table: Caption. {#tbl:id}                      numbered table
  $$ e = mc^2 $$ {#eq:id}                        numbered display equation
  {#fig:id tag="S1"}                             show a tag instead of a number
  {#fig:}                                        numbered, but not referenceable
  @fig:id  +@fig:id  *@fig:id  !@fig:id          plain, "fig. 1", "Figure 1", "1"
  [@fig:a; @fig:b]  or  @fig:a; @fig:b           "1 and 2" ("figs. 1 and 2")
  +@fig:a; @tbl:b                                "fig. 1 and table 1" (each kind named)
  [see @fig:a, left]                             "see 1, left" (the citation's words kept)
  # Methods {#sec:methods}                       a section (any heading: its id)
  @sec:methods  +@sec:methods  @sec:intro        "2", "section 2"; a heading's own id
                                                 ("intro") is referenced as sec:intro

Sections (pandoc-secnos) are numbered as pandoc's --number-sections numbers
them: 1, 1.1, ..., unnumbered headings skipped. When pandoc does not number
the headings itself, a heading labelled sec:... shows its number, so that
"section 2" can be found.

Supplementary numbering: a heading with the class `.supplementary` (or the
attribute `supplementary=true`) starts a supplementary part that lasts until
the next heading of the same or a higher level (a smaller or equal level
number); a Div with that class is supplementary as a whole. Every figure,
table and equation labelled in a supplementary part is numbered S1, S2, ...
in a sequence of its own kind, separate from the main sequence.

Metadata (as pandoc-xnos): <kind>nos-caption-name, <kind>nos-plus-name,
<kind>nos-star-name, <kind>nos-cleveref (or xnos-cleveref, cleveref),
xnos-capitalise (or xnos-capitalize), eqnos-eqref; <kind> is fig, table, eq,
sec; xnos-number-offset adds to the first number of sections.

Only Cite elements whose citation ids start with the lowercase prefixes
`fig:`, `tbl:`, `eq:` or `sec:` are touched; every other citation is left alone.

The filter indexes every label first, then resolves the references (so forward
references work), as quarto's crossref and pandoc-crossref do. Everything it
learns while doing so lives in one state table made per document (new_state),
never in module variables, so running it on several documents in one Lua
state numbers each from 1.

A heading with the class `crossref-counted-only` counts for section numbers
and is then removed (it stands for a section a format moved elsewhere).

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

-- A heading left in place of a section a format moved out of the body (the
-- Authors and Abstract its title block shows): counted, so the sections after
-- it keep the HTML's numbers, then removed.
local COUNTED_ONLY = 'crossref-counted-only'

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

-- One entry per kind of label, with the defaults of pandoc-xnos. A function,
-- not a table, because each document's metadata may change the names.
local function default_kinds()
  return {
    fig = {
      key = 'fig', prefix = 'fig:', meta = 'fignos', class = 'fignos',
      caption_name = 'Figure',
      plus_name = {'fig.', 'figs.'}, star_name = {'Figure', 'Figures'},
      cleveref = false,
    },
    tbl = {
      key = 'tbl', prefix = 'tbl:', meta = 'tablenos', class = 'tablenos',
      caption_name = 'Table',
      plus_name = {'table', 'tables'}, star_name = {'Table', 'Tables'},
      cleveref = false,
    },
    eq = {
      key = 'eq', prefix = 'eq:', meta = 'eqnos', class = 'eqnos',
      caption_name = 'Equation',
      plus_name = {'eq.', 'eqs.'}, star_name = {'Equation', 'Equations'},
      cleveref = false, eqref = false,
    },
    sec = {
      key = 'sec', prefix = 'sec:', meta = 'secnos', class = 'secnos',
      caption_name = 'Section',
      plus_name = {'section', 'sections'}, star_name = {'Section', 'Sections'},
      cleveref = false, offset = 0,
    },
  }
end

local KIND_KEYS = {fig = true, tbl = true, eq = true, sec = true}

-- 'fig', 'tbl', 'eq' or 'sec' for a label; lowercase prefixes only, as pandoc-xnos.
local function kind_of(label)
  local key = label:match('^(%l+):')
  if key and KIND_KEYS[key] then
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

-- A name may be given as a string or as a [singular, plural] list; pandoc-secnos
-- also took one per division, {section: ..., chapter: ...} or "section:sec.".
local function meta_names(value)
  if value == nil then
    return nil
  end
  if pandoc.utils.type(value) == 'table' and value.section ~= nil then
    return meta_names(value.section)
  end
  local text = pandoc.utils.type(value) ~= 'List' and stringify(value) or ''
  local division = text:match('section:([^,]*)')
  if division then
    return meta_names(division)
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

-- Apply "<meta>-caption-name", "-plus-name", "-star-name", "-cleveref" to one kind.
local function read_kind_options(kind, meta, default_cleveref, capitalise_names)
  local key = kind.meta
  if meta[key .. '-caption-name'] ~= nil then
    kind.caption_name = stringify(meta[key .. '-caption-name'])
  end
  local plus_name = meta_names(meta[key .. '-plus-name'])
  kind.plus_name = plus_name or kind.plus_name
  kind.star_name = meta_names(meta[key .. '-star-name']) or kind.star_name
  if key == 'secnos' and plus_name and meta[key .. '-star-name'] == nil then
    -- pandoc-secnos: a new "+" name is the "*" name too, capitalised
    kind.star_name = {capitalise(plus_name[1]), capitalise(plus_name[2])}
  end
  local cleveref = meta_bool(meta[key .. '-cleveref'])
  if cleveref == nil then
    cleveref = default_cleveref
  end
  kind.cleveref = cleveref or false
  -- pandoc-secnos: a name set explicitly wins over xnos-capitalise
  if capitalise_names and not (key == 'secnos' and plus_name) then
    kind.plus_name = {capitalise(kind.plus_name[1]), capitalise(kind.plus_name[2])}
  end
end

-- The kinds, with this document's metadata applied.
local function read_options(meta)
  local kinds = default_kinds()
  local default_cleveref = meta_bool(meta['xnos-cleveref'])
  if default_cleveref == nil then
    default_cleveref = meta_bool(meta['cleveref'])
  end
  local capitalise_names = meta_bool(meta['xnos-capitalise'])
    or meta_bool(meta['xnos-capitalize'])
  for _, kind in pairs(kinds) do
    read_kind_options(kind, meta, default_cleveref, capitalise_names)
  end
  kinds.eq.eqref = meta_bool(meta['eqnos-eqref']) or false
  kinds.sec.offset = tonumber(meta['xnos-number-offset']
    and stringify(meta['xnos-number-offset'])) or 0
  -- Numbering by section ("Figure 2.1") is not done: say so rather than ignore it.
  for _, name in ipairs({'xnos', 'fignos', 'tablenos', 'eqnos'}) do
    if meta_bool(meta[name .. '-number-by-section']) then
      warn(name .. '-number-by-section is not supported: numbered 1, 2, ... throughout')
    end
  end
  return kinds
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

-- key="value", key='value' and key=value, tried in this order.
local PAIR_PATTERNS = {
  '^([%w_%-:]+)="([^"]*)"',
  "^([%w_%-:]+)='([^']*)'",
  '^([%w_%-:]+)=([^%s}]*)',
}

-- The attribute token at `pos` of `body`: its type ('space', 'id', 'class',
-- 'pair' or 'junk'), the index of its last character, and its values.
local function attr_token(body, pos)
  local s, e, a, b = body:find('^%s+', pos)
  if s then
    return 'space', e
  end
  s, e, a = body:find('^#([^%s}]*)', pos)
  if s then
    return 'id', e, a
  end
  s, e, a = body:find('^%.([^%s}]+)', pos)
  if s then
    return 'class', e, a
  end
  for _, pattern in ipairs(PAIR_PATTERNS) do
    s, e, a, b = body:find(pattern, pos)
    if s then
      return 'pair', e, a, b
    end
  end
  s, e = body:find('^%S+', pos)
  return 'junk', e
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
    local token, last, a, b = attr_token(body, pos)
    if token == 'id' then
      id = a
    elseif token == 'class' then
      classes[#classes + 1] = a
    elseif token == 'pair' then
      attributes[#attributes + 1] = {a, b}
    end
    pos = last + 1
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
-- The state of one document
------------------------------------------------------------------------

-- Everything the filter learns about a document; made afresh for each one.
local function new_state(meta)
  return {
    kinds = read_options(meta),  -- names and options of fig, tbl and eq
    -- label -> {kind = 'fig', text = '1'}; filled before any reference is
    -- resolved, so forward references work.
    labels = {},
    unknown = {},          -- labels already reported unknown
    counters = {},         -- kind -> main counter
    supp_counters = {},    -- kind -> supplementary counter
    top_level = 6,         -- the highest heading level (smallest number) numbered
    unnamed = 0,           -- for ids of unreferenceable "{#fig:}" labels
    supplementary_level = nil,  -- heading level that opened the supplement
    supplementary_divs = 0,     -- depth of supplementary Divs being walked
  }
end

local function in_supplement(state)
  return state.supplementary_level ~= nil or state.supplementary_divs > 0
end

local function is_supplementary(el)
  return el.classes:includes('supplementary')
    or meta_bool(el.attributes['supplementary']) == true
end

-- A heading ends the supplement opened at its level or deeper, and a
-- supplementary heading opens one.
local function track_supplement(state, header)
  if state.supplementary_level and header.level <= state.supplementary_level then
    state.supplementary_level = nil
  end
  if is_supplementary(header) then
    state.supplementary_level = header.level
  end
end

-- The next number of a kind: "1", "2"... or, in a supplement, "S1", "S2"...
local function next_number(state, kind_key)
  if in_supplement(state) then
    state.supp_counters[kind_key] = (state.supp_counters[kind_key] or 0) + 1
    return 'S' .. state.supp_counters[kind_key]
  end
  state.counters[kind_key] = (state.counters[kind_key] or 0) + 1
  return tostring(state.counters[kind_key])
end

-- Assign the number (or tag) for a label and return its display text
-- and the id to use in the output.
local function register(state, kind_key, attr)
  local label = attr.identifier
  local id = label
  local tag = attr.attributes['tag']
  local text
  if tag and tag ~= '' then
    text = tag  -- tags do not consume a number
  else
    text = next_number(state, kind_key)
  end
  if label == state.kinds[kind_key].prefix then
    state.unnamed = state.unnamed + 1
    id = label .. '__unnamed-' .. state.unnamed
  elseif state.labels[label] then
    warn('duplicate label ' .. label)
  else
    state.labels[label] = {kind = kind_key, text = text}
  end
  return text, id
end

------------------------------------------------------------------------
-- Pass 1: number every label in document order
------------------------------------------------------------------------

-- Whether pandoc numbers the headings itself (--number-sections), and the
-- offsets it adds to the first numbers (--number-offset).
local function pandoc_numbers_sections()
  local options = PANDOC_WRITER_OPTIONS
  return options ~= nil and options.number_sections == true
end

local function section_offsets(state)
  if pandoc_numbers_sections() and PANDOC_WRITER_OPTIONS.number_offset then
    return PANDOC_WRITER_OPTIONS.number_offset
  end
  return {state.kinds.sec.offset}
end

-- The headings pandoc numbers: those of the document and of its Divs, not
-- those in block quotes or lists.
local function numbered_headings(blocks, found)
  for _, block in ipairs(blocks) do
    if block.t == 'Header' and not block.classes:includes('unnumbered') then
      found[#found + 1] = block
    elseif block.t == 'Div' then
      numbered_headings(block.content, found)
    end
  end
  return found
end

-- "2", "1.3": the number pandoc's --number-sections prints, counted from the
-- document's highest heading level ("0.1" for a deeper heading before it).
-- Offsets, as pandoc adds them, count from level 1: "## A" with offset 2 is 2.1.
local function section_number(state, counters, level)
  counters[level] = (counters[level] or 0) + 1
  for deeper = level + 1, 6 do
    counters[deeper] = 0
  end
  local parts = {}
  for l = state.top_level, level do
    parts[#parts + 1] = counters[l] or 0
  end
  local offsets = section_offsets(state)
  local offset_sum = 0
  for _, o in ipairs(offsets) do
    offset_sum = offset_sum + math.abs(tonumber(o) or 0)
  end
  if offset_sum > 0 then
    while #parts < level do
      table.insert(parts, 1, 0)
    end
    for n = 1, #parts do
      parts[n] = parts[n] + (tonumber(offsets[n]) or 0)
    end
  end
  return table.concat(parts, '.')
end

-- Number the sections and record each under "sec:<id>": pandoc-secnos let any
-- heading be referenced so, explicit "sec:" ids or not (explicit ones win).
local function index_sections(state, blocks)
  local headings, counters = numbered_headings(blocks, {}), {}
  for _, h in ipairs(headings) do
    state.top_level = math.min(state.top_level, h.level)
  end
  for _, h in ipairs(headings) do
    local text, id = section_number(state, counters, h.level), h.identifier
    local explicit = kind_of(id) == 'sec'
    local label = explicit and id or 'sec:' .. id
    local known = state.labels[label]
    if explicit and known and known.explicit then
      warn('duplicate label ' .. label)
    elseif id ~= '' and (explicit or not known) then
      state.labels[label] = {kind = 'sec', text = text, id = id, explicit = explicit}
    end
  end
end

-- A "sec:" heading shows its number when pandoc does not number headings itself.
local function show_section_number(state, header)
  local entry = state.labels[header.identifier]
  if not entry or entry.kind ~= 'sec' or pandoc_numbers_sections()
      or header.classes:includes('unnumbered') or entry.shown then
    return nil  -- a duplicate's number is not known: not shown
  end
  entry.shown = true
  header.content:insert(1, pandoc.Space())
  header.content:insert(1, pandoc.Span({pandoc.Str(entry.text)},
    pandoc.Attr('', {'header-section-number'})))
  return header
end

-- Tag text that is inline math ("$B.1'$") stays math, as in pandoc-xnos.
local function tag_inlines(text)
  local math = text:match('^%$(.+)%$$')
  if math then
    return {pandoc.Math('InlineMath', math)}
  end
  return {pandoc.Str(text)}
end

-- "(1)", or "(", the math, ")" for a tag that is math.
local function parenthesised(text)
  local inlines = pandoc.Inlines({pandoc.Str('(')})
  inlines:extend(tag_inlines(text))
  inlines:insert(pandoc.Str(')'))
  return inlines
end

-- "Figure 1:" as a Span, as pandoc-fignos wrote it.
local function caption_prefix(kind, text)
  local inlines = pandoc.Inlines({pandoc.Str(kind.caption_name .. NBSP)})
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

-- The attributes without the id and "tag" (consumed here), in their order.
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
local function element_with_id(el, kind, text, id)
  el.attr = clean_attr(el.attr)
  el.identifier = id
  if not LATEX then
    el.caption.long = prefix_caption_blocks(el.caption.long, caption_prefix(kind, text))
    return el
  end
  local counter, name = table.unpack(LATEX_COUNTER[kind.key])
  local set = string.format('\\renewcommand{\\the%s}{%s}\\renewcommand{\\%s}{%s}',
    counter, latex_text(text), name, kind.caption_name)
  return {pandoc.RawBlock('latex', set), el}
end

-- The figure's attributes, with the "tag" that pandoc 3 puts on the image
-- (it gives the figure only the id); the tag is taken off the image.
local function figure_attr(fig)
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
  return attr
end

-- HTML: "Figure 1:" before the caption, the id on a wrapping fignos Div.
local function wrap_figure(fig, kind, text, id)
  local caption_text = stringify(fig.caption.long)
  local prefix = caption_prefix(kind, text)
  -- pandoc marks the caption aria-hidden when the image's alt text repeats
  -- it; keep them equal (as pandoc-fignos did) so that still holds.
  fig.content = fig.content:walk {
    Image = function (img)
      if stringify(img.caption) == caption_text then
        img.caption:insert(1, pandoc.Space())
        img.caption:insert(1, pandoc.Str(kind.caption_name .. NBSP .. text .. ':'))
      end
      return img
    end,
  }
  fig.caption.long = prefix_caption_blocks(fig.caption.long, prefix)
  fig.attr = clean_attr(fig.attr)
  return pandoc.Div({fig}, pandoc.Attr(id, {kind.class}))
end

local function number_figure(state, fig)
  if kind_of(fig.identifier) ~= 'fig' then
    return nil
  end
  local text, id = register(state, 'fig', figure_attr(fig))
  if ID_ON_ELEMENT then
    return element_with_id(fig, state.kinds.fig, text, id)
  end
  return wrap_figure(fig, state.kinds.fig, text, id)
end

-- A lone image in a paragraph (implicit_figures off): make it a figure.
local function number_image_para(state, para)
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
  return number_figure(state, fig)
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

local function number_table(state, tbl)
  if kind_of(tbl.identifier) ~= 'tbl' then
    local attr = table_attr_from_caption(tbl)
    if not attr then
      return nil
    end
    tbl.attr = attr
  end
  local kind = state.kinds.tbl
  local text, id = register(state, 'tbl', tbl.attr)
  if ID_ON_ELEMENT then
    return element_with_id(tbl, kind, text, id)
  end
  tbl.caption.long = prefix_caption_blocks(tbl.caption.long, caption_prefix(kind, text))
  tbl.attr = clean_attr(tbl.attr)
  return pandoc.Div({tbl}, pandoc.Attr(id, {kind.class}))
end

-- LaTeX numbers the equation, printing our number or tag.
local function latex_equation(math, text, id)
  return {pandoc.RawInline('latex', string.format(
    '\\begin{equation}%s\\tag{%s}\\label{%s}\\end{equation}',
    math.text, latex_text(text), id))}
end

-- Typst numbers the equation itself (right-aligned), with our number as text.
local function typst_equation(math, text, id)
  local number = text:gsub('^%$(.+)%$$', '%1'):gsub('[\\"]', '\\%0')
  return {
    pandoc.RawInline('typst', string.format(
      '#[#set math.equation(numbering: _ => "(%s)");', number)),
    math,
    pandoc.RawInline('typst', string.format(' <%s>]', id)),
  }
end

-- HTML: the math and "(1)" in an eqnos Span carrying the id.
local function html_equation(kind, math, attr, text, id)
  local number = pandoc.Span(parenthesised(text), pandoc.Attr('', {'eqnos-number'}))
  local span_attr = clean_attr(attr)
  span_attr.identifier = id
  span_attr.classes:insert(1, kind.class)
  return {pandoc.Span({math, number}, span_attr)}
end

local function numbered_equation(state, math, attr)
  local text, id = register(state, 'eq', attr)
  if LATEX then
    return latex_equation(math, text, id)
  elseif TYPST then
    return typst_equation(math, text, id)
  end
  return html_equation(state.kinds.eq, math, attr, text, id)
end

-- If inlines[i] is display math followed by "{#eq:...}" (pandoc parses the
-- attributes as text), the parsed Attr and the index of its last inline.
local function equation_attr_at(inlines, i)
  local el = inlines[i]
  if el.t ~= 'Math' or el.mathtype ~= 'DisplayMath' then
    return nil
  end
  local start = i + 1
  if inlines[start] and inlines[start].t == 'Space' then
    start = start + 1
  end
  return attr_block_at(inlines, start, 'eq:')
end

-- Number the labelled display equations of a Para or Plain.
local function number_equations(state, block)
  local inlines = block.content
  local out = pandoc.Inlines({})
  local changed = false
  local i = 1
  while i <= #inlines do
    local attr, last = equation_attr_at(inlines, i)
    if attr then
      out:extend(numbered_equation(state, inlines[i], attr))
      changed = true
      i = last + 1
    else
      out:insert(inlines[i])
      i = i + 1
    end
  end
  if changed then
    block.content = out
    return block
  end
  return nil
end

-- A supplementary Div numbers what it holds S1, S2...; walk() applies the
-- filter to the Div's children, not the Div itself.
local function number_supplementary_div(state, div, filter)
  if not is_supplementary(div) then
    return nil
  end
  state.supplementary_divs = state.supplementary_divs + 1
  local ok, result = pcall(function () return div:walk(filter) end)
  state.supplementary_divs = state.supplementary_divs - 1
  if not ok then
    error(result, 0)
  end
  return result, false
end

-- The numbering filter, walked top-down so labels are met in document order.
local function numbering_filter(state)
  local filter
  filter = {
    traverse = 'topdown',
    Header = guarded('Header', function (h)
      track_supplement(state, h)
      if h.classes:includes(COUNTED_ONLY) then
        return {}  -- counted in pass 1, shown by the format's own title block
      end
      return show_section_number(state, h)
    end),
    Div = guarded('Div', function (div)
      return number_supplementary_div(state, div, filter)
    end),
    Figure = guarded('Figure', function (fig)
      -- The figure's own children are not searched for further labels.
      local result = number_figure(state, fig)
      return result, result == nil
    end),
    Table = guarded('Table', function (tbl)
      local result = number_table(state, tbl)
      if result then
        return result, false
      end
      return nil
    end),
    Para = guarded('Para', function (para)
      return number_image_para(state, para) or number_equations(state, para)
    end),
    Plain = guarded('Plain', function (plain)
      return number_equations(state, plain)
    end),
  }
  return filter
end

local function index_labels(doc, state)
  index_sections(state, doc.blocks)
  return doc:walk(numbering_filter(state))
end

------------------------------------------------------------------------
-- Pass 2: resolve references
------------------------------------------------------------------------

local function is_xref(citation)
  return kind_of(citation.id) ~= nil
end

-- A link to a label showing its number, or "??" (with a warning) if unknown.
local function reference_link(state, label)
  local entry = state.labels[label]
  if not entry then
    -- Once per label: the build lists every place the label is referenced.
    if not state.unknown[label] then
      state.unknown[label] = true
      warn('unknown reference @' .. label)
    end
    return pandoc.Link({pandoc.Str('??')}, '#' .. label, '', pandoc.Attr('', {'xref-unknown'}))
  end
  local eqref = entry.kind == 'eq' and state.kinds.eq.eqref
  -- \ref prints the number given to the label (and links it); LaTeX's own
  -- section numbers are not ours (unnumbered sections, offsets), so not those.
  if LATEX and entry.kind ~= 'sec' then
    return pandoc.RawInline('latex', (eqref and '\\eqref{' or '\\ref{') .. label .. '}')
  end
  local target = '#' .. (entry.id or label)
  return pandoc.Link(eqref and parenthesised(entry.text) or tag_inlines(entry.text), target)
end

-- "1", "1 and 2", "1, 2 and 3" (pandoc-xnos joins lists this way).
local function join_items(items)
  local out = pandoc.Inlines({})
  for n, item in ipairs(items) do
    if n > 1 then
      if n == #items then
        out:extend({pandoc.Space(), pandoc.Str('and'), pandoc.Space()})
      else
        out:extend({pandoc.Str(','), pandoc.Space()})
      end
    end
    out:extend(item)
  end
  return out
end

local MODIFIERS = {['+'] = true, ['*'] = true, ['!'] = true}

-- A citation's prefix, split into the modifier it ends with ("[see +@fig:a]")
-- and the text before it, without trailing spaces.
local function prefix_parts(citation)
  local prefix = citation.prefix:clone()
  local last = prefix[#prefix]
  local modifier
  if last and last.t == 'Str' and MODIFIERS[last.text:sub(-1)] then
    modifier = last.text:sub(-1)
    if #last.text == 1 then
      prefix:remove()
    else  -- a new Str: the clone shares its elements with the document
      prefix[#prefix] = pandoc.Str(last.text:sub(1, -2))
    end
  end
  while #prefix > 0 and (prefix[#prefix].t == 'Space' or prefix[#prefix].t == 'SoftBreak') do
    prefix:remove()
  end
  return modifier, prefix
end

-- "figs." for `count` references of `kind` if the modifier (or, without
-- one, the kind's cleveref option) asks for a name; nil otherwise.
local function clever_name(kind, modifier, count)
  local clever = modifier == '+' or modifier == '*'
    or (modifier == nil and kind.cleveref)
  if not clever then
    return nil
  end
  local names = modifier == '*' and kind.star_name or kind.plus_name
  return count > 1 and names[2] or names[1]
end

-- Runs of consecutive citations that ``key_of`` maps to the same value:
-- {{key = value, citations = {...}}, ...}, in order.
local function consecutive_runs(citations, key_of)
  local runs = {}
  for _, c in ipairs(citations) do
    local key = key_of(c)
    local run = runs[#runs]
    if not run or run.key ~= key then
      run = {key = key, citations = {}}
      runs[#runs + 1] = run
    end
    run.citations[#run.citations + 1] = c
  end
  return runs
end

-- Consecutive citations of the same kind, each group named on its own:
-- "+@fig:a; @fig:b; @tbl:c" is "figs. 1, 2 and table 1".
local function kind_groups(citations)
  return consecutive_runs(citations, function (c) return kind_of(c.id) end)
end

-- One reference as it reads: the citation's prefix text, the kind's name
-- (for the first of a group), the link, and the citation's suffix text.
local function reference_item(state, citation, prefix, name)
  local item = pandoc.Inlines(prefix)
  if #item > 0 then
    item:insert(pandoc.Space())
  end
  if name then
    item:insert(pandoc.Str(name .. NBSP))
  end
  item:insert(reference_link(state, citation.id))
  item:extend(citation.suffix)
  return item
end

-- The items of one group of references of the same kind.
-- A modifier in the group's first prefix ("[@fig:a; +@tbl:b]") is its own.
local function group_items(state, group, modifier, items)
  local kind = state.kinds[group.key]
  for n, citation in ipairs(group.citations) do
    local own_modifier, prefix = prefix_parts(citation)
    local name = n == 1 and clever_name(kind, own_modifier or modifier, #group.citations) or nil
    items[#items + 1] = reference_item(state, citation, prefix, name)
  end
end

-- Render references with the modifier typed before them ('+', '*', '!' or nil).
local function render_references(state, citations, modifier)
  local items = {}
  for _, group in ipairs(kind_groups(citations)) do
    group_items(state, group, modifier, items)
  end
  return join_items(items)
end

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

-- Split a Cite into runs of crossref (key true) and ordinary citations.
local function cite_runs(cite)
  return consecutive_runs(cite.citations, is_xref)
end

-- One run of a Cite split by kind: cross-references become links, citations stay.
local function render_run(state, run)
  if run.key then
    return render_references(state, run.citations, nil)
  end
  return pandoc.Inlines {pandoc.Cite({pandoc.Str(citation_source(run.citations))}, run.citations)}
end

-- A Cite that starts with ordinary citations: its runs, joined by "; ".
local function split_cite(state, cite)
  local out = pandoc.Inlines({})
  for r, run in ipairs(cite_runs(cite)) do
    if r > 1 then
      out:extend({pandoc.Str(';'), pandoc.Space()})
    end
    out:extend(render_run(state, run))
  end
  return out
end

-- Drop the last character of the Str ending `out` (the Str too if emptied).
local function cut_last_char(out)
  local last = out[#out]
  if #last.text == 1 then
    out:remove()
  else
    last.text = last.text:sub(1, -2)
  end
end

-- Whether `out` (the text rendered so far) ends with the character `char`.
local function ends_with(out, char)
  local last = out[#out]
  return last ~= nil and last.t == 'Str' and last.text:sub(-1) == char
end

-- The modifier typed just before a reference ("+@fig:a"), cut from `out`.
local function take_modifier(out)
  local last = out[#out]
  if not last or last.t ~= 'Str' or not MODIFIERS[last.text:sub(-1)] then
    return nil
  end
  local modifier = last.text:sub(-1)
  cut_last_char(out)
  return modifier
end

-- If `out` ends with `opener` and inlines[i] starts with `closer`, cut both
-- and return the text after the closer ('' if none); nil otherwise.
local function take_enclosure(out, inlines, i, opener, closer)
  local following = inlines[i]
  if not ends_with(out, opener) or not following or following.t ~= 'Str'
      or following.text:sub(1, 1) ~= closer then
    return nil
  end
  cut_last_char(out)
  return following.text:sub(2)
end

-- Whether inlines[i..i+2] is "; @fig:b", continuing a list "@fig:a; @fig:b"
-- (the space may be a line break in the source).
local function continues_list(inlines, i)
  local separator, space, cite = inlines[i], inlines[i + 1], inlines[i + 2]
  return separator ~= nil and separator.t == 'Str' and separator.text == ';'
    and space ~= nil and (space.t == 'Space' or space.t == 'SoftBreak')
    and cite ~= nil and cite.t == 'Cite' and is_xref(cite.citations[1])
end

-- "@fig:a; @fig:b" (separate Cites) is one list, as in pandoc-xnos: add the
-- references of the Cites that continue the cluster to it.
local function extend_list(inlines, cluster)
  while #cluster.runs == 1 and continues_list(inlines, cluster.next) do
    local runs = cite_runs(inlines[cluster.next + 2])
    for _, c in ipairs(runs[1].citations) do
      cluster.citations[#cluster.citations + 1] = c
    end
    cluster.runs = runs
    cluster.next = cluster.next + 3
  end
end

-- The reference cluster starting with the Cite inlines[i]: its citations and
-- modifier, the runs of its last Cite (ordinary citations after the
-- references stay citations), the text after a closing brace or bracket, and
-- the next index. "{+@fig:a}" protects a reference, and "[*@fig:a; @fig:b]"
-- (which pandoc does not read as one Cite, because of the "*") is one list;
-- their braces and brackets are dropped.
local function read_cluster(inlines, i, out)
  local cite = inlines[i]
  local typed = take_modifier(out)
  -- "[+@fig:a; ...]": the modifier is the first citation's prefix.
  local in_prefix = prefix_parts(cite.citations[1])
  local runs = cite_runs(cite)
  local cluster = {citations = {table.unpack(runs[1].citations)},
                   modifier = in_prefix or typed, runs = runs, next = i + 1}
  cluster.after = take_enclosure(out, inlines, i + 1, '{', '}')
  if cluster.after then
    cluster.next = i + 2
    return cluster
  end
  extend_list(inlines, cluster)
  if typed then
    cluster.after = take_enclosure(out, inlines, cluster.next, '[', ']')
    cluster.next = cluster.next + (cluster.after and 1 or 0)
  end
  return cluster
end

local function render_cluster(state, cluster)
  local out = render_references(state, cluster.citations, cluster.modifier)
  for r = 2, #cluster.runs do
    out:insert(pandoc.Space())
    out:extend(render_run(state, cluster.runs[r]))
  end
  if cluster.after and cluster.after ~= '' then
    out:insert(pandoc.Str(cluster.after))
  end
  return out
end

-- References in a list of inlines become links; nil if there are none.
local function resolve_inlines(state, inlines)
  local out = pandoc.Inlines({})
  local changed = false
  local i = 1
  while i <= #inlines do
    local el = inlines[i]
    if el.t == 'Cite' and is_xref(el.citations[1]) then
      local cluster = read_cluster(inlines, i, out)
      out:extend(render_cluster(state, cluster))
      changed, i = true, cluster.next
    elseif el.t == 'Cite' and #cite_runs(el) > 1 then
      out:extend(split_cite(state, el))
      changed, i = true, i + 1
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

local function resolve_references(doc, state)
  return doc:walk {
    Inlines = guarded('Inlines', function (inlines)
      return resolve_inlines(state, inlines)
    end),
  }
end

return {
  {
    -- Index every label, then resolve the references, with a state of this
    -- document's own.
    Pandoc = function (doc)
      local state = new_state(doc.meta)
      return resolve_references(index_labels(doc, state), state)
    end,
  },
}
