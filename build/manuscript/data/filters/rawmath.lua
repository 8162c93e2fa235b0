--[[
rawmath.lua: a LaTeX math environment written as it is in the Markdown
(`\begin{align*} … \end{align*}`, no `$$`) becomes display math when the Markdown is read.

pandoc's reader keeps such an environment as raw TeX (a RawInline, or a RawBlock), and
only its HTML writer turns it into display math on the way out (as MathJax or MathML). Every later step of this
pipeline (MathJax SVG for the page and both PDFs, Word, JATS) looks for Math elements,
so it is done once here, where the AST is made. Runs at parse time (pandoc.py).
]]

-- The environments pandoc's HTML writer takes as math (Text.Pandoc.Writers.HTML).
local MATH_ENVIRONMENTS = {
  align = true, ['align*'] = true, alignat = true, ['alignat*'] = true,
  dmath = true, ['dmath*'] = true, eqnarray = true, ['eqnarray*'] = true,
  equation = true, ['equation*'] = true, flalign = true, ['flalign*'] = true,
  gather = true, ['gather*'] = true, multline = true, ['multline*'] = true,
}

local function environment(text)
  local name = text:match('^%s*\\begin{([%a*]+)}')
  if name and MATH_ENVIRONMENTS[name]
      and text:match('\\end{' .. name:gsub('%*', '%%*') .. '}%s*$') then
    return name
  end
  return nil
end

local function is_math(el)
  return (el.format == 'latex' or el.format == 'tex') and environment(el.text) ~= nil
end

return {
  {
    RawInline = function (el)
      if is_math(el) then return pandoc.Math('DisplayMath', el.text) end
    end,
    RawBlock = function (el)
      if is_math(el) then return pandoc.Para { pandoc.Math('DisplayMath', el.text) } end
    end,
  },
}
