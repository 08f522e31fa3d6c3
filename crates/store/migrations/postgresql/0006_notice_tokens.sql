-- A notice's public address is a random token, not its sequential id (issue 10, item 4).
ALTER TABLE notices ADD COLUMN public_token TEXT;
UPDATE notices SET public_token = md5(random()::text || id::text || clock_timestamp()::text) WHERE public_token IS NULL;
CREATE UNIQUE INDEX notices_public_token ON notices(public_token);
