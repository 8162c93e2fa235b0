--[[
build-meta.lua: drop the metadata that only the build needs, after citeproc has used it.

pandoc's --bibliography and --csl options put this machine's paths (a temporary file, the
manuscript's folder) into the metadata, and Manubot adds its manubot-* settings. The docx
writer copies every metadata field into the document's custom properties: without this
filter a Word file would carry those paths to every co-author it is sent to.
]]

local BUILD_ONLY = {
  bibliography = true,
  csl = true,
  ['link-citations'] = true,
}

local function is_build_only(key)
  return BUILD_ONLY[key] or key:match('^manubot%-') ~= nil
end

local function drop_build_only(meta)
  local keys = {}
  for key in pairs(meta) do
    if is_build_only(key) then
      keys[#keys + 1] = key
    end
  end
  for _, key in ipairs(keys) do
    meta[key] = nil
  end
  return meta
end

return {{Meta = drop_build_only}}
