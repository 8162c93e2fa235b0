--[[
images.lua: images whose local file is missing become placeholders, without JS.

A missing figure image would show the browser's broken-image icon and its alt text
(pandoc makes the caption the alt text, so the caption appeared twice), and
WeasyPrint drew that alt text in a large box. Instead:

  figure image   <span class="image-missing" data-file="images/x.png" role="img"
                 aria-label="Image not available: images/x.png">images/x.png</span>
                 (the caption stays in the figcaption, once)
  .inline_icon   <span class="icon-missing">ORCID</span>: the alt text without
                 "icon", as a text label (author ORCID/GitHub/… links stay usable)

Remote (http, https, data:) images are left alone: the PDF stage has its own
placeholder for those. Files are looked up in pandoc's resource path, which the
build sets to content/. No warning here: images.py has already reported each missing
image with its Markdown file and line, before pandoc runs.
]]

local function is_local(src)
  return not (src:match('^%a[%w+.-]*:') or src:match('^//'))
end

local function exists(path)
  local handle = io.open(path, 'rb')
  if handle then
    handle:close()
    return true
  end
  return false
end

local function file_of(src)
  -- drop a query or fragment; undo %-escapes (pandoc keeps them in the URL)
  local path = src:gsub('[?#].*$', '')
  return (path:gsub('%%(%x%x)', function (hex) return string.char(tonumber(hex, 16)) end))
end

local function found(src)
  local path = file_of(src)
  if path:sub(1, 1) == '/' then
    return exists(path)
  end
  local dirs = PANDOC_STATE.resource_path or {'.'}
  for _, dir in ipairs(dirs) do
    if exists(pandoc.path.join({dir, path})) then
      return true
    end
  end
  return false
end

local function icon_label(image)
  local alt = pandoc.utils.stringify(image.caption)
  alt = alt:gsub('%s*[Ii]con$', ''):gsub('^%s+', ''):gsub('%s+$', '')
  if alt == '' then
    alt = pandoc.path.filename(file_of(image.src)):gsub('%.[^.]*$', '')
  end
  return alt
end

-- images.py rewrote each fetched remote image to its copy in ci/cache, published with
-- the page as remote-images/<sha256>.<ext>: present, though not under content/.
local function is_cached_remote(src)
  return src:match('^remote%-images/%x+%.%w+$') ~= nil
end

local function placeholder(image)
  if not is_local(image.src) or is_cached_remote(image.src) or found(image.src) then
    return nil
  end
  if image.classes:includes('inline_icon') then
    return pandoc.Span({pandoc.Str(icon_label(image))},
      pandoc.Attr('', {'icon-missing'}, {{'data-file', image.src}}))
  end
  local file = file_of(image.src)
  return pandoc.Span({pandoc.Str(file)}, pandoc.Attr(image.identifier, {'image-missing'}, {
    {'data-file', file},
    {'role', 'img'},
    {'aria-label', 'Image not available: ' .. file},
  }))
end

-- The web page (and the PDF drawn from it) only: Word, JATS, LaTeX and Typst embed or
-- reference their images by other paths, and report a missing one themselves.
if not FORMAT:match('html') then
  return {}
end

return {
  {Image = placeholder},
}
