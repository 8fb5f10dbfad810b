// crisisbus console: live updates without reloading the page, and clocks
// that count down. Pages work without this script; it only refreshes the
// regions marked data-live (never a form being typed into).
(function () {
  "use strict";

  function pad(n) { return n < 10 ? "0" + n : "" + n; }
  function leftText(ms) {
    var over = ms < 0, s = Math.floor(Math.abs(ms) / 1000);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    var t = (h > 0 ? h + " h " : "") + m + " min " + pad(s % 60) + " s";
    return over ? "overdue by " + t : t + " left";
  }
  // The server's time when the page was made: clocks count from it, so a
  // computer whose own clock is wrong still shows the right time left.
  var skew = (Date.parse(document.documentElement.getAttribute("data-now") || "") - Date.now()) || 0;
  function tick() {
    var now = Date.now() + skew;
    document.querySelectorAll("time[data-due]").forEach(function (el) {
      var ms = Date.parse(el.getAttribute("data-due")) - now;
      var warn = 1000 * (parseInt(el.getAttribute("data-warn"), 10) || 0);
      var due = ms >= 0 && ms <= warn;
      el.textContent = leftText(ms) + (due ? ", due soon" : "");
      el.classList.toggle("tag--red", ms < 0);
      el.classList.toggle("tag--yellow", due);
      el.classList.toggle("tag--green", ms > warn);
    });
  }
  // The page after a form waits for what was just recorded (?after=): take
  // it out of the address, so a reload or a shared link does not wait again.
  // (The confirmation itself is kept in the session and shown once.) The
  // page holds that event: when it is announced, there is nothing to read.
  var held = (/[?&]after=([^&#]+)/.exec(window.location.search) || [])[1] || "";
  try { held = decodeURIComponent(held); } catch (x) { held = ""; }
  if (window.history && window.history.replaceState && /[?&]after=/.test(window.location.search)) {
    window.history.replaceState(null, "", window.location.pathname + window.location.hash);
  }

  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    // After a failed submit, take the keyboard and the screen reader to the
    // error summary first, as the NHS.UK design system does.
    var summary = document.querySelector(".error-summary");
    if (summary) { summary.focus(); }
    // The note for the person: a button to print it, where a script runs.
    document.querySelectorAll("[data-print]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () { window.print(); });
    });
  });

  // One refresh at a time: a change that arrives while one is under way
  // is fetched again straight after it, so the last change is never missed
  // and a burst of changes costs at most two reads. An episode's page asks
  // for itself after the event that changed it (?after=), and the record
  // answers once it holds that event; other pages (worklists, lists) are
  // read at once and once more a moment later, as the record's lists
  // follow its projection.
  var busy = false, again = false, after = "", settle = null;
  var onEpisode = (/^\/episodes\/([0-9a-f-]{36})$/.exec(window.location.pathname) || [])[1] || "";
  // A form sent replaces this page with its answer, which shows what
  // changes meanwhile: the page does not read itself while it is being
  // left. One that stays (a download) catches up a moment later.
  var leaving = 0, late = null;
  document.addEventListener("submit", function (ev) { if (!ev.defaultPrevented) { leaving = Date.now() + 3000; } });
  function changed(ev) {
    var e = {};
    try { e = JSON.parse(ev && ev.data || "{}"); } catch (x) { e = {}; }
    if (onEpisode && e.episode === onEpisode && e.id) {
      if (e.id === held) { return; }
      after = e.id;
    }
    if (Date.now() < leaving) {
      if (!late) { late = setTimeout(function () { late = null; refresh(); }, leaving - Date.now()); }
      return;
    }
    refresh();
    if (!onEpisode) {
      if (settle) { clearTimeout(settle); }
      settle = setTimeout(function () { settle = null; refresh(); }, 300);
    }
  }
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    var u = window.location.pathname + window.location.search;
    if (after) { u += (u.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(after); after = ""; }
    fetch(u, { credentials: "same-origin", headers: { "X-Requested-With": "live" } })
      .then(function (r) {
        // Signed out meanwhile (idle, or disabled): show the sign-in page.
        if (r.redirected && new URL(r.url).pathname === "/signin") {
          window.location.reload();
          return Promise.reject("signed out");
        }
        return r.ok ? r.text() : Promise.reject(r.status);
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (el) {
          var fresh = el.id && doc.getElementById(el.id);
          if (fresh && fresh.innerHTML !== el.innerHTML && !el.contains(document.activeElement)) {
            el.innerHTML = fresh.innerHTML;
          }
        });
        tick();
      })
      .catch(function () { /* the next update tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  // Live updates are for signed-in pages only: the sign-in page opens no
  // connection. When the connection drops, a notice says the page may be
  // out of date until it is back; then the page catches up at once.
  var notice = null, noticeTimer = null, es = null;
  function stopped() {
    if (noticeTimer || !notice) { return; }
    noticeTimer = setTimeout(function () {
      notice.hidden = false;
      notice.querySelector("p").textContent = "Live updates have stopped: this page may be out of date. It will update again when the connection is back; reload the page to be sure.";
    }, 1000);
  }
  function resumed() {
    if (noticeTimer) { clearTimeout(noticeTimer); noticeTimer = null; }
    if (notice && !notice.hidden) {
      notice.hidden = true;
      notice.querySelector("p").textContent = "";
      refresh();
    }
  }
  // The page says where it stands in the live updates (data-live-since):
  // the console sends anything that changed since it was rendered, such as
  // an answer that came back before this page had connected.
  function connect() {
    var since = document.body.getAttribute("data-live-since");
    es = new EventSource("/live" + (since ? "?since=" + encodeURIComponent(since) : ""));
    es.addEventListener("open", resumed);
    es.addEventListener("changed", changed);
    // The session has ended (signed out elsewhere, idle, disabled): the
    // page is no longer updated. It is not reloaded, so nothing typed on
    // it is lost; the notice says what to do.
    es.addEventListener("signedout", function () {
      es.close();
      if (noticeTimer) { clearTimeout(noticeTimer); noticeTimer = null; }
      if (!notice) { return; }
      notice.hidden = false;
      notice.querySelector("p").textContent = "You have been signed out, so this page is no longer updated. Copy anything you have typed, then reload the page to sign in again.";
    });
    es.addEventListener("error", function () {
      stopped();
      // A stream the server ended is not retried by the browser: try again.
      if (es.readyState === EventSource.CLOSED) { setTimeout(connect, 5000); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    notice = document.getElementById("live-notice");
    if (window.EventSource && document.body.hasAttribute("data-live-updates")) { connect(); }
  });
  window.addEventListener("pagehide", function () { if (es) { es.close(); } });
})();
