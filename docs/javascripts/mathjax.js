// MathJax 3 for the math on the site: pymdownx.arithmatex's output (generic mode: \( ... \) inline,
// \[ ... \] blocks, in elements of class "arithmatex") and the notebooks' Markdown cells, where the
// math is written $ ... $ and $$ ... $$ (elements of class "jp-MarkdownOutput", from mkdocs-jupyter).
// Everything else (code, the API's source listings) is left alone, dollar signs included.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex|jp-MarkdownOutput"
  }
};

// Material loads pages without a full reload ("instant" navigation is off here, but keep MathJax correct
// if it is turned on): typeset each page as it is shown.
document$.subscribe(() => {
  if (window.MathJax && MathJax.typesetPromise) {
    MathJax.startup.output.clearCache();
    MathJax.typesetClear();
    MathJax.texReset();
    MathJax.typesetPromise();
  }
});
