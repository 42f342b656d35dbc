// report.html's only script (allowed by hash in the page's Content Security Policy; no network).
// Without it the page shows every row, failures first. With it: filters by outcome and route, a
// search box, sortable columns and pages of 500 rows. The rows are kept in an array and only the
// page shown is in the document, so filtering and sorting 100,000 rows costs an array pass, not a
// layout of 100,000 table rows. Printing prints every row the filters select.
(function () {
  'use strict';
  var pageSize = 500;
  var d = document;
  var table = d.getElementById('mailboxes');
  var body = table.tBodies[0];
  // The rows arrive in tables of 500 under the header table; they move into it, a page at a time.
  var chunks = d.querySelectorAll('div.chunk');
  var all = Array.prototype.slice.call(d.querySelectorAll('div.chunk tbody tr'));
  Array.prototype.forEach.call(chunks, function (chunk) { chunk.parentNode.removeChild(chunk); });
  var view = all;
  var page = 0;
  var texts = null; // lower-cased row texts, built on the first search
  var keys = {}; // sort keys per column, built on the first sort by it
  var outcome = d.getElementById('f-outcome');
  var route = d.getElementById('f-route');
  var search = d.getElementById('f-search');
  var count = d.getElementById('f-count');
  var previous = d.getElementById('f-previous');
  var next = d.getElementById('f-next');
  var showAll = d.getElementById('f-all');
  all.forEach(function (row, i) { row.setAttribute('data-i', i); });
  d.getElementById('controls').hidden = false;

  function show(rows) {
    body.textContent = '';
    var fragment = d.createDocumentFragment();
    for (var i = 0; i < rows.length; i++) fragment.appendChild(rows[i]);
    body.appendChild(fragment);
  }

  function render() {
    var from = page * pageSize;
    var to = Math.min(view.length, from + pageSize);
    show(view.slice(from, to));
    count.textContent = view.length === all.length ? all.length + ' mailboxes' : view.length + ' of ' + all.length + ' mailboxes match';
    count.textContent += view.length > pageSize ? '; showing ' + (from + 1) + '–' + to : '';
    previous.disabled = page === 0;
    next.disabled = to >= view.length;
    showAll.hidden = view.length <= pageSize;
  }

  function apply() {
    var o = outcome.value;
    var r = route.value;
    var q = search.value.trim().toLowerCase();
    if (q && !texts) texts = all.map(function (row) { return row.textContent.toLowerCase(); });
    view = !o && !r && !q ? all : all.filter(function (row) {
      return (!o || row.getAttribute('data-o') === o) && (!r || row.getAttribute('data-r') === r) && (!q || texts[+row.getAttribute('data-i')].indexOf(q) >= 0);
    });
    page = 0;
    render();
  }

  var timer;
  outcome.addEventListener('change', apply);
  route.addEventListener('change', apply);
  search.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(apply, 150);
  });
  previous.addEventListener('click', function () { page--; render(); });
  next.addEventListener('click', function () { page++; render(); });
  showAll.addEventListener('click', function () { show(view); showAll.hidden = true; next.disabled = true; });
  // On paper: every selected row, then back to the page on screen.
  window.addEventListener('beforeprint', function () { show(view); });
  window.addEventListener('afterprint', render);

  var headers = table.tHead.rows[0].cells;
  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  Array.prototype.forEach.call(headers, function (th, column) {
    th.className = 'sortable';
    th.tabIndex = 0;
    th.setAttribute('aria-sort', 'none');
    function sort() {
      var ascending = th.getAttribute('aria-sort') !== 'ascending';
      Array.prototype.forEach.call(headers, function (other) { other.setAttribute('aria-sort', 'none'); });
      th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
      var key = keys[column] || (keys[column] = all.map(function (row) { return row.cells[column].textContent; }));
      var order = all.map(function (_, i) { return i; });
      order.sort(function (a, b) { return ascending ? collator.compare(key[a], key[b]) : collator.compare(key[b], key[a]); });
      // Rows keep their index (data-i) into the per-column keys and search texts.
      all = order.map(function (i) { return all[i]; });
      keys = {};
      keys[column] = order.map(function (i) { return key[i]; });
      if (texts) texts = order.map(function (i) { return texts[i]; });
      all.forEach(function (row, i) { row.setAttribute('data-i', i); });
      apply();
    }
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function (event) {
      if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); sort(); }
    });
  });
  apply();
})();
