-- Every commit that changes the patches or the blocklist notifies the channel
-- livepatch_catalogue, on whichever unit (or sync run, or import) made it: each server
-- process listens and empties its cache of download lookups (download_index.py), so a
-- block applies everywhere as soon as it is committed. One notification per statement;
-- PostgreSQL delivers them at commit and folds duplicates within a transaction.
CREATE FUNCTION livepatch_catalogue_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('livepatch_catalogue', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER patches_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON patches
    FOR EACH STATEMENT EXECUTE FUNCTION livepatch_catalogue_changed();
CREATE TRIGGER blocklist_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON blocklist
    FOR EACH STATEMENT EXECUTE FUNCTION livepatch_catalogue_changed();
