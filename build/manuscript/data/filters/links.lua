--- links.lua: links to other sites get rel="noopener noreferrer".
---
--- noopener: a page opened from the manuscript cannot reach back through
--- window.opener; noreferrer: it is not told which page the reader came from.
--- Runs after citeproc, so the links in the reference list get it too.

local function is_external (target)
  return target:match '^[Hh][Tt][Tt][Pp][Ss]?://' ~= nil
end

local function with_rel (rel)
  local words, seen = {}, {}
  for word in (rel or ''):gmatch '%S+' do
    words[#words + 1], seen[word:lower()] = word, true
  end
  for _, word in ipairs {'noopener', 'noreferrer'} do
    if not seen[word] then words[#words + 1] = word end
  end
  return table.concat(words, ' ')
end

local function Link (link)
  if not is_external(link.target) then return nil end
  link.attributes.rel = with_rel(link.attributes.rel)
  return link
end

return {{Link = Link}}
