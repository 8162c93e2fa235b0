--[[
pagetitle.lua: a page without a title in its metadata gets the first heading's text
as its <title> (pandoc would write "-"), and a warning:
  pagetitle: no title in the metadata; the page title is the first heading: "…"
]]

local function first_heading(blocks)
  for _, block in ipairs(blocks) do
    if block.t == 'Header' then
      return pandoc.utils.stringify(block.content)
    elseif block.t == 'Div' then
      local inner = first_heading(block.content)
      if inner then
        return inner
      end
    end
  end
  return nil
end

local function set_pagetitle(doc)
  local meta = doc.meta
  if (meta.title and pandoc.utils.stringify(meta.title) ~= '') or meta.pagetitle then
    return nil
  end
  local heading = first_heading(doc.blocks)
  if not heading or heading == '' then
    return nil
  end
  local text = 'pagetitle: no title in the metadata; the page title is the first heading: "'
    .. heading .. '"'
  if pandoc.log and pandoc.log.warn then
    pandoc.log.warn(text)
  else
    io.stderr:write('[WARNING] ', text, '\n')
  end
  meta.pagetitle = pandoc.MetaString(heading)
  return doc
end

return {
  {Pandoc = set_pagetitle},
}
