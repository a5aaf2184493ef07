-- View-only links (twin of the other back end's 0018): the recipient's page offers the file to
-- open in the tab and no save button. The page's promise only: whoever can see a file can
-- capture it, and the key is released to the recipient's browser as for any link.
ALTER TABLE shares ADD COLUMN view_only INTEGER NOT NULL DEFAULT 0;
