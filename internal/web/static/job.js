// The job page's live log: fetch new bytes by offset every two seconds
// while the job runs. Without JavaScript the page still shows the log as
// it was when loaded, with a Refresh link.
(function () {
  var log = document.getElementById("log");
  if (!log || log.dataset.complete === "true") return;
  var offset = parseInt(log.dataset.offset, 10) || 0;
  function poll() {
    fetch(log.dataset.trace + "?offset=" + offset, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (c) {
        if (c.html) log.insertAdjacentHTML("beforeend", c.html);
        offset = c.offset;
        var st = document.getElementById("job-status");
        if (st) st.innerHTML = '<span class="status s-' + c.status + '">' + c.status + "</span>";
        if (!c.complete) setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
