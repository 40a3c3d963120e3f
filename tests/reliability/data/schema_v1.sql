-- Schema 1 of the Retention Console store, as release 0.1 creates it (frozen: never edit).
-- tests/reliability/test_migrations.py builds "a store written by the previous release" from it.

CREATE TABLE schema_info (
	id INTEGER NOT NULL,
	version INTEGER NOT NULL,
	PRIMARY KEY (id)
);

CREATE TABLE contacts (
	id INTEGER NOT NULL,
	email VARCHAR NOT NULL,
	email_domain VARCHAR NOT NULL,
	first_name VARCHAR,
	last_name VARCHAR,
	address_city VARCHAR,
	address_line_1 VARCHAR,
	address_postal VARCHAR,
	address_state VARCHAR,
	landing_page_url VARCHAR,
	landing_page_domain VARCHAR,
	referrer VARCHAR,
	page_title VARCHAR,
	clicked_at VARCHAR,
	created_at VARCHAR,
	updated_at VARCHAR,
	extra_data VARCHAR,
	anonymous_id VARCHAR,
	content_hash VARCHAR NOT NULL,
	seq INTEGER NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (email)
);

CREATE TABLE events (
	seq INTEGER NOT NULL,
	message_id VARCHAR NOT NULL,
	event VARCHAR NOT NULL,
	email VARCHAR,
	anonymous_id VARCHAR,
	user_id VARCHAR,
	properties VARCHAR NOT NULL,
	timestamp VARCHAR NOT NULL,
	original_timestamp VARCHAR,
	PRIMARY KEY (seq),
	UNIQUE (message_id)
);

CREATE TABLE suppressions (
	email_md5 VARCHAR NOT NULL,
	PRIMARY KEY (email_md5)
);

CREATE TABLE audiences (
	id INTEGER NOT NULL,
	name VARCHAR NOT NULL,
	rule VARCHAR NOT NULL,
	updated_at VARCHAR NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (name)
);

CREATE TABLE destinations (
	id INTEGER NOT NULL,
	name VARCHAR NOT NULL,
	kind VARCHAR NOT NULL,
	enabled BOOLEAN NOT NULL,
	paused BOOLEAN NOT NULL,
	settings VARCHAR NOT NULL,
	created_at VARCHAR NOT NULL,
	updated_at VARCHAR NOT NULL,
	healthy BOOLEAN NOT NULL,
	health_note VARCHAR,
	consecutive_failures INTEGER NOT NULL,
	last_run_at VARCHAR,
	last_result VARCHAR,
	lease_owner VARCHAR,
	lease_until VARCHAR,
	PRIMARY KEY (id),
	UNIQUE (name)
);

CREATE TABLE cursors (
	destination_id INTEGER NOT NULL,
	stream VARCHAR NOT NULL,
	position INTEGER NOT NULL,
	note VARCHAR,
	PRIMARY KEY (destination_id, stream),
	FOREIGN KEY(destination_id) REFERENCES destinations (id)
);

CREATE TABLE outbox (
	id INTEGER NOT NULL,
	destination_id INTEGER NOT NULL,
	kind VARCHAR NOT NULL,
	message_id VARCHAR NOT NULL,
	email VARCHAR,
	payload BLOB NOT NULL,
	status VARCHAR NOT NULL,
	attempts INTEGER NOT NULL,
	next_attempt_at VARCHAR NOT NULL,
	http_status INTEGER,
	feedback VARCHAR,
	created_at VARCHAR NOT NULL,
	updated_at VARCHAR NOT NULL,
	day VARCHAR NOT NULL,
	run_id INTEGER,
	PRIMARY KEY (id),
	CONSTRAINT uq_outbox_destination_message UNIQUE (destination_id, message_id),
	FOREIGN KEY(destination_id) REFERENCES destinations (id)
);

CREATE TABLE daily_stats (
	destination_id INTEGER NOT NULL,
	day VARCHAR NOT NULL,
	completions INTEGER NOT NULL,
	failures INTEGER NOT NULL,
	suppressed INTEGER NOT NULL,
	skipped INTEGER NOT NULL,
	PRIMARY KEY (destination_id, day),
	FOREIGN KEY(destination_id) REFERENCES destinations (id)
);

CREATE TABLE sync_runs (
	id INTEGER NOT NULL,
	destination_id INTEGER NOT NULL,
	"trigger" VARCHAR NOT NULL,
	status VARCHAR NOT NULL,
	started_at VARCHAR NOT NULL,
	finished_at VARCHAR,
	added INTEGER NOT NULL,
	changed INTEGER NOT NULL,
	removed INTEGER NOT NULL,
	delivered INTEGER NOT NULL,
	rejected INTEGER NOT NULL,
	suppressed INTEGER NOT NULL,
	skipped INTEGER NOT NULL,
	filtered INTEGER NOT NULL,
	retrying INTEGER NOT NULL,
	requests INTEGER NOT NULL,
	message VARCHAR,
	PRIMARY KEY (id),
	FOREIGN KEY(destination_id) REFERENCES destinations (id)
);

CREATE TABLE audience_members (
	destination_id INTEGER NOT NULL,
	contact_id INTEGER NOT NULL,
	content_hash VARCHAR NOT NULL,
	member BOOLEAN NOT NULL,
	PRIMARY KEY (destination_id, contact_id),
	FOREIGN KEY(destination_id) REFERENCES destinations (id)
);

CREATE TABLE import_jobs (
	id INTEGER NOT NULL,
	destination_id INTEGER NOT NULL,
	audience VARCHAR NOT NULL,
	remote_id VARCHAR,
	status VARCHAR NOT NULL,
	rows INTEGER NOT NULL,
	imported INTEGER NOT NULL,
	rejected INTEGER NOT NULL,
	message VARCHAR,
	file_path VARCHAR,
	created_at VARCHAR NOT NULL,
	updated_at VARCHAR NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(destination_id) REFERENCES destinations (id)
);

CREATE INDEX ix_contacts_seq ON contacts (seq);

CREATE INDEX ix_contacts_email_domain ON contacts (email_domain);

CREATE INDEX ix_events_event ON events (event);

CREATE INDEX ix_events_email ON events (email);

CREATE INDEX ix_outbox_claim ON outbox (destination_id, status, next_attempt_at);

CREATE INDEX ix_outbox_run ON outbox (run_id);

CREATE INDEX ix_outbox_email ON outbox (email);

CREATE INDEX ix_outbox_status_day ON outbox (status, day, destination_id);

CREATE INDEX ix_runs_destination_started ON sync_runs (destination_id, started_at);

CREATE INDEX ix_import_jobs_destination_id ON import_jobs (destination_id);

INSERT INTO schema_info (id, version) VALUES (1, 1);
