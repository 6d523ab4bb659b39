// The players of the watch page and of the library: they outlive their signed URLs.
// A player's own link (/watch/{token}/video) redirects to a signed URL of the CDN that lapses after minutes, and the
// browser then asks that URL, not the link, for every later part of the file: a seek, or a resume after a long
// pause, is refused. On that error the player asks its link again (a fresh signed URL) and goes on from where it
// was; at most once per RETRY_MS, so that a link that is really gone (revoked, deleted) stays an error.
"use strict";

const RETRY_MS = 10000;

function keepPlaying(player) {
  let retried = 0;
  player.addEventListener("error", () => {
    const link = player.getAttribute("src");
    if (!link || Date.now() - retried < RETRY_MS) return;
    retried = Date.now();
    resumeFrom(player, link, player.played.length > 0);  // the browser pauses before the error: played, it plays on
  });
}

// The player on ``link`` from where it was, playing if it was (or if ``playing``).
function resumeFrom(player, link, playing = !player.paused) {
  const at = player.currentTime;
  player.src = link;
  player.addEventListener("loadedmetadata", () => { player.currentTime = at; if (playing) player.play(); }, { once: true });
}
