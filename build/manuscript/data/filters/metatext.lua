--[[
metatext.lua: the metadata the page's template writes into attributes, as escaped text.

The template writes <meta name="author" content="$author-meta$">, keywords, description,
<html lang="$lang$">, og:site_name… Pandoc's templates cannot escape for an attribute:
a value is written as HTML, where a quote is left as it is (pandoc's HTML writer escapes
" only inside attributes it writes itself) and Markdown formatting is markup
(<span data-x="…">). So each such value becomes its plain text, escaped here for an
attribute, and given to the template as raw HTML that pandoc writes unchanged. A custom
build/theme/template.html that uses these variables gets the same protection.

Run for the HTML page only, after every other filter (pagetitle.lua sets pagetitle).
Raw markup in metadata is already text (metatext.py); this is about attribute syntax.
]]

local stringify = pandoc.utils.stringify

-- Variables the bundled template writes inside attributes (or <title>, where text is
-- what it shows anyway).
local ATTRIBUTE_KEYS = {
  'author-meta', 'date-meta', 'description-meta', 'keywords', 'pagetitle',
  'title-prefix', 'lang', 'dir', 'manuscript-site-name',
}

local ESCAPES = {['&'] = '&amp;', ['<'] = '&lt;', ['>'] = '&gt;', ['"'] = '&quot;',
                 ["'"] = '&#39;'}

local function escaped(text)
  return (text:gsub('[&<>"\']', ESCAPES))
end

local function as_attribute(value)
  if pandoc.utils.type(value) == 'List' then  -- keywords, authors: each one
    local items = pandoc.List()
    for _, item in ipairs(value) do
      items:insert(as_attribute(item))
    end
    return items
  end
  local text = stringify(value):gsub('%s+', ' ')
  return pandoc.MetaInlines({pandoc.RawInline('html', escaped(text))})
end

local function names(authors)
  -- pandoc makes author-meta from `author` (a list of names, or of mappings with one)
  if pandoc.utils.type(authors) ~= 'List' then
    authors = pandoc.List({authors})
  end
  local result = pandoc.List()
  for _, author in ipairs(authors) do
    if type(author) == 'table' and author.name ~= nil then
      author = author.name
    end
    result:insert(author)
  end
  return result
end

local function attribute_text(meta)
  -- What pandoc's HTML writer would otherwise fill in from other fields, as markup.
  if meta['author-meta'] == nil and meta.author ~= nil then
    meta['author-meta'] = names(meta.author)
  end
  if meta['description-meta'] == nil and meta.description ~= nil then
    meta['description-meta'] = meta.description
  end
  if meta['date-meta'] == nil and meta.date ~= nil then
    meta['date-meta'] = meta.date
  end
  if meta.pagetitle == nil and meta.title ~= nil then
    meta.pagetitle = meta.title
  end
  for _, key in ipairs(ATTRIBUTE_KEYS) do
    if meta[key] ~= nil then
      meta[key] = as_attribute(meta[key])
    end
  end
  return meta
end

return {{Meta = attribute_text}}
