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

// [data-print-selection="URL"]: the queue's "Print packing slips" opens URL with the
// ticked orders (?orders=PL-1&orders=PL-2), a read that needs no CSRF token in its URL.
// Hidden until this script runs, since it cannot work without it.
document.querySelectorAll("[data-print-selection]").forEach((button) => {
  button.hidden = false;
  button.addEventListener("click", () => {
    const ticked = button.form.querySelectorAll('input[name="orders"]:checked');
    const query = new URLSearchParams();
    ticked.forEach((box) => query.append("orders", box.value));
    window.location.assign(`${button.dataset.printSelection}?${query}`);
  });
});
