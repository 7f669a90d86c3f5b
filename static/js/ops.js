// The ops console's two small behaviours, without inline script (the CSP forbids it):
// [data-copy="ID"] copies the text of element ID; [data-print] opens the print dialog.
document.addEventListener("click", (event) => {
  const copy = event.target.closest("[data-copy]");
  if (copy) {
    const source = document.getElementById(copy.dataset.copy);
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.innerText).then(() => {
        copy.textContent = "Copied";
      });
    }
  }
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});
