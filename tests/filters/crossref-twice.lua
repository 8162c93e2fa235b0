--[[
Run crossref.lua on two documents in one Lua state, as a host that loads the
filter once and applies it to many documents would (tests/test_filters.py).

    pandoc lua tests/filters/crossref-twice.lua FILTER FIRST.md SECOND.md

Prints each document's HTML after the filter, the two separated by a line
"<!-- next document -->". The filter is loaded once, so any state it kept at
module level would carry from the first document into the second.
]]

local filter_path, first, second = arg[1], arg[2], arg[3]

-- `pandoc lua` sets no output format; the filter reads it when loaded.
FORMAT = 'html5'
local filters = dofile(filter_path)

local function read(path)
  local file = assert(io.open(path, 'r'))
  local text = file:read('a')
  file:close()
  return pandoc.read(text, 'markdown')
end

-- Apply the filter's passes in order, as pandoc does with --lua-filter.
local function apply(doc)
  for _, filter in ipairs(filters) do
    doc = doc:walk(filter)
  end
  return doc
end

local pages = {}
for _, path in ipairs({first, second}) do
  pages[#pages + 1] = pandoc.write(apply(read(path)), 'html5')
end
io.write(table.concat(pages, '\n<!-- next document -->\n'), '\n')
