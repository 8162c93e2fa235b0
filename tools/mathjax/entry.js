// The math engine of `manuscript` (build/manuscript/math.py): MathJax 3, TeX in, SVG out,
// with assistive MathML beside the SVG for screen readers. Bundled by build.sh into one
// file that runs in an embedded V8 (PyPI's mini-racer): no DOM, no Node, no network.
import {mathjax} from 'mathjax-full/js/mathjax.js';
import {TeX} from 'mathjax-full/js/input/tex.js';
import {SVG} from 'mathjax-full/js/output/svg.js';
import {liteAdaptor} from 'mathjax-full/js/adaptors/liteAdaptor.js';
import {RegisterHTMLHandler} from 'mathjax-full/js/handlers/html.js';
import {AssistiveMmlHandler} from 'mathjax-full/js/a11y/assistive-mml.js';
import {AllPackages} from 'mathjax-full/js/input/tex/AllPackages.js';
import {SafeHandler} from 'mathjax-full/js/ui/safe/SafeHandler.js';

// autoload/require load files at run time (there are none to load); noundefined and
// noerrors would print a bad expression in red instead of reporting it to the build.
const SKIP = ['autoload', 'require', 'noundefined', 'noerrors', 'setoptions'];

const adaptor = liteAdaptor();
// SafeHandler drops javascript: links, unsafe styles and the like from \href, \style….
SafeHandler(AssistiveMmlHandler(RegisterHTMLHandler(adaptor)));
const tex = new TeX({
  packages: AllPackages.filter((name) => !SKIP.includes(name)),
  formatError: (jax, error) => { throw error; },
});
// fontCache 'none': every SVG stands alone (no ids shared between formulas), so the same
// SVG can appear twice in a page, and WeasyPrint draws each one by itself.
const svg = new SVG({fontCache: 'none'});
const html = mathjax.document('', {InputJax: tex, OutputJax: svg});

// One formula -> JSON {html} (an <mjx-container>) or {error}. The container keeps the
// TeX in data-tex: math.py makes it the SVG's <title> for the PDF only (WeasyPrint's alt
// text), as a <title> in the page would show in headings' textContent and as tooltips.
globalThis.typeset = function (source, display) {
  try {
    const node = html.convert(source, {display: display, em: 16, ex: 8, containerWidth: 1280});
    adaptor.setAttribute(node, 'data-tex', source);
    return JSON.stringify({html: adaptor.outerHTML(node)});
  } catch (error) {
    return JSON.stringify({error: String((error && error.message) || error)});
  }
};

globalThis.mathjaxVersion = mathjax.version;
