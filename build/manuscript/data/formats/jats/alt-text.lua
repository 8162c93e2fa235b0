--[[
alt-text.lua: the last filter of the JATS run (manuscript/formats/jats.py).

pandoc 3's JATS writer copies an image's alt text into <alt-text> without escaping it:
a caption with "P<0.05" or "R&D" (or raw HTML) made the whole file malformed XML, and
lxml stopped the format worker (seen on ccc and mpmp). So the alt text is given to it
as plain text already escaped.
]]

function Image(img)
  local alt = pandoc.utils.stringify(img.caption)
  if not alt:find('[&<>]') then
    return nil
  end
  alt = alt:gsub('&', '&amp;'):gsub('<', '&lt;'):gsub('>', '&gt;')
  img.caption = {pandoc.Str(alt)}
  return img
end
