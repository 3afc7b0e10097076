// Copy and print buttons for the recovery-key page (the download link
// works without script).
(function () {
  var copy = document.getElementById('copy-key');
  var status = document.getElementById('copy-status');
  if (copy) {
    copy.addEventListener('click', function () {
      var text = document.getElementById(copy.dataset.copy).textContent;
      navigator.clipboard.writeText(text).then(function () {
        status.textContent = 'Copied.';
      }, function () {
        status.textContent = 'Copy failed; select the key and copy it by hand.';
      });
    });
  }
  var print = document.getElementById('print-key');
  if (print) {
    print.addEventListener('click', function () { window.print(); });
  }
})();
