/* Stand-ins for the scripts that pkgdown's template loads from CDNs
 * (headroom, bootstrap-toc, clipboard.js, mark.js, the search's autocomplete),
 * for a site read without network access (e.g. built by dev/check.sh and
 * opened from disk). pkgdown.js calls them when the page is ready, and stops
 * at the first one missing; this file is loaded before that moment. Each
 * stand-in is defined only when the real script did not load: the table of
 * contents lists the page's headings that have an id (without nesting); the
 * others do nothing (no copy buttons, no search), and the rest of the page
 * works. */
(function ($) {
  if (!$) return;
  if (!$.fn.headroom) $.fn.headroom = function () { return this; };
  if (!$.fn.autocomplete) $.fn.autocomplete = function () { return this; };
  if (!window.Toc) {
    window.Toc = {
      init: function (opts) {
        var $list = $('<ul class="nav nav-pills flex-column"></ul>');
        opts.$scope.filter("h2[id]").each(function () {
          var $a = $('<a class="nav-link"></a>').attr("href", "#" + this.id).text($(this).text());
          $list.append($('<li class="nav-item"></li>').append($a));
        });
        if ($list.children().length) opts.$nav.append($list);
      }
    };
  }
  if (!window.ClipboardJS) window.ClipboardJS = { isSupported: function () { return false; } };
  if (!window.Mark) window.Mark = function () { this.mark = function () {}; };
})(window.jQuery);
