-- What the owner sees of a link's use: when it last released a key, and how many of its
-- downloads the owner has seen (the page's "new downloads" badge counts the rest).
ALTER TABLE shares ADD COLUMN last_used_at INTEGER;
ALTER TABLE shares ADD COLUMN seen_downloads INTEGER NOT NULL DEFAULT 0;
