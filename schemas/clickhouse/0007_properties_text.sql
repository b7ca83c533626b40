-- properties and context as JSON text (String) instead of the JSON type:
-- parsing every object into the JSON type's dynamic subcolumns was most
-- of the insert's cost (ceiling C), and the text is smaller on disk after
-- merges. Queries read a property with
-- JSONExtract(properties, <path...>, 'Dynamic'), which infers the value's
-- type as the JSON type did. See docs/clickhouse-schema.md, "Properties
-- and context".
--
-- MODIFY COLUMN rewrites the stored parts in the background (a
-- mutation); until a part is rewritten, reads convert its values to the
-- JSON type's text on the fly, so queries see text from the start. A
-- repeated run changes nothing (the column already has the type).
ALTER TABLE trackstream.events${LOCAL} ${ON_CLUSTER}
    MODIFY COLUMN properties String CODEC(ZSTD(3)),
    MODIFY COLUMN context String CODEC(ZSTD(3));

-- @cluster-only
ALTER TABLE trackstream.events ${ON_CLUSTER}
    MODIFY COLUMN properties String CODEC(ZSTD(3)),
    MODIFY COLUMN context String CODEC(ZSTD(3));
