// report.html's only script (allowed by hash in the page's Content Security Policy; no network).
// Without it the page shows every row, failures first. With it: filters by outcome and route, a
// search box and sortable columns, fast enough for 100,000 rows (one pass over an array of rows,
// the table body rebuilt once per change).
(function () {
  'use strict';
  var table = document.getElementById('mailboxes');
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var texts = null; // lower-cased row texts, built on the first search
  var outcome = document.getElementById('f-outcome');
  var route = document.getElementById('f-route');
  var search = document.getElementById('f-search');
  var count = document.getElementById('f-count');
  document.getElementById('controls').hidden = false;

  function apply() {
    var o = outcome.value;
    var r = route.value;
    var q = search.value.trim().toLowerCase();
    if (q && !texts) texts = rows.map(function (row) { return row.textContent.toLowerCase(); });
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var visible = (!o || row.getAttribute('data-o') === o) && (!r || row.getAttribute('data-r') === r) && (!q || texts[i].indexOf(q) >= 0);
      if (row.hidden === visible) row.hidden = !visible;
      if (visible) shown++;
    }
    count.textContent = shown + ' of ' + rows.length + ' mailboxes shown';
  }

  var timer;
  outcome.addEventListener('change', apply);
  route.addEventListener('change', apply);
  search.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(apply, 150);
  });

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
      var keyed = rows.map(function (row, i) { return { row: row, key: row.cells[column].textContent, text: texts && texts[i] }; });
      keyed.sort(function (a, b) { return ascending ? collator.compare(a.key, b.key) : collator.compare(b.key, a.key); });
      rows = keyed.map(function (k) { return k.row; });
      if (texts) texts = keyed.map(function (k) { return k.text; });
      var fragment = document.createDocumentFragment();
      for (var i = 0; i < rows.length; i++) fragment.appendChild(rows[i]);
      body.appendChild(fragment);
    }
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function (event) {
      if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); sort(); }
    });
  });
  apply();
})();
