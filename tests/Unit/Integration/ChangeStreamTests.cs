using Confiture.Core;
using Confiture.Core.Fdw;
using Confiture.Core.Migration;
using Confiture.Core.Stream;
using Confiture.Core.Verification;
using Confiture.Tests.Unit.Infrastructure;
using Npgsql;

namespace Confiture.Tests.Unit.Integration;

/// <summary>
/// The change stream against a source with wal_level = logical: what the copy missed arrives
/// through the slot, through the table's map and conversion, exactly once; nothing is left on the
/// source afterwards. Every test drops its slots: the shared source has few.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ChangeStreamTests(ServerFixture fixture)
{
    private const string SourceItems =
        "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2), seen timestamp, note text, flag boolean, tags text[], mood text)";

    // Renamed id and name, note excluded, extra defaulted; int -> bigint, text -> varchar, timestamp -> timestamptz.
    private const string TargetItems =
        "CREATE TABLE items (item_id bigint PRIMARY KEY, title varchar(40) NOT NULL, price numeric(12,2), seen timestamptz, flag boolean, tags text[], mood text, extra text DEFAULT 'd')";

    private static readonly TableMigrationRequest ItemsRequest = new()
    {
        SourceTable = "items",
        Map = new TableMap
        {
            Rename = new Dictionary<string, string> { ["id"] = "item_id", ["name"] = "title" },
            Exclude = ["note"],
            Default = ["extra"],
        },
    };

    [Fact]
    public async Task The_stream_applies_inserts_updates_key_updates_deletes_nulls_and_truncate_through_a_renaming_map()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, $"{SourceItems}; INSERT INTO items SELECT g, 'Item ' || g, g * 1.5, '2024-03-01 10:00'::timestamp + g * interval '1 hour', 'n', g % 2 = 0, ARRAY['a', 'b'], 'calm' FROM generate_series(1, 300) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, TargetItems);
        var migrator = s.Migrator(new FdwSettings { Tables = ["items"] });
        try
        {
            await migrator.SetupChangeStreamAsync();
            // Written after the slot's snapshot, before the copy: the copy must not see it, the stream must bring it.
            await Db.ExecAsync(s.SourceAdmin, "INSERT INTO items VALUES (1000, 'Early', 1, '2024-01-01 00:00', 'x', true, NULL, NULL)");
            await migrator.MigrateTableCopyAsync(ItemsRequest);
            Assert.Equal(["300"], await Db.RowsAsync(s.TargetAdmin, "SELECT count(*) FROM items"));

            await Db.ExecAsync(s.SourceAdmin,
                """
                INSERT INTO items VALUES (2000, 'New', NULL, NULL, NULL, NULL, NULL, NULL);
                UPDATE items SET name = 'Changed', price = 99.99, seen = '2025-12-31 23:59:59.123456' WHERE id = 5;
                UPDATE items SET id = 5005 WHERE id = 6;
                UPDATE items SET price = NULL, flag = NULL, tags = ARRAY['it''s', NULL, 'x,y'] WHERE id = 7;
                DELETE FROM items WHERE id BETWEEN 10 AND 19;
                BEGIN; UPDATE items SET mood = 'glad' WHERE id = 20; UPDATE items SET mood = 'sad' WHERE id = 20; COMMIT;
                """);
            var status = await migrator.SyncChangeStreamAsync();

            Assert.Equal(17, status.ChangesApplied);
            var table = Assert.Single(status.Tables);
            Assert.Equal((2L, 5L, 10L), (table.Inserted, table.Updated, table.Deleted));
            Assert.Equal(["1000 | Early | d", "2000 | New | d"], await Db.RowsAsync(s.TargetAdmin, "SELECT item_id, title, extra FROM items WHERE item_id >= 1000 AND item_id <> 5005 ORDER BY 1"));
            Assert.Equal(["0"], await Db.RowsAsync(s.TargetAdmin, "SELECT count(*) FROM items WHERE item_id = 6 OR item_id BETWEEN 10 AND 19"));
            await AssertSameAsync(migrator);

            // A second call finds nothing new: nothing applied twice.
            var again = await migrator.SyncChangeStreamAsync();
            Assert.Equal(0, again.ChangesApplied);

            await Db.ExecAsync(s.SourceAdmin, "TRUNCATE items; INSERT INTO items VALUES (1, 'After truncate', 1, NULL, NULL, NULL, NULL, NULL)");
            var truncated = await migrator.SyncChangeStreamAsync();
            Assert.Equal(1, Assert.Single(truncated.Tables).Truncated);
            Assert.Equal(["1 | After truncate"], await Db.RowsAsync(s.TargetAdmin, "SELECT item_id, title FROM items"));
            await AssertSameAsync(migrator);
            Assert.Equal(["True"], await Db.RowsAsync(s.TargetAdmin, $"SELECT applied_lsn = '{truncated.AppliedLsn}'::pg_lsn FROM confiture.stream_position"));
        }
        finally
        {
            await migrator.CleanupFdwAsync();
        }

        Assert.Empty(await SlotsAsync(s));
        Assert.Equal(["0"], await Db.RowsAsync(s.SourceAdmin, "SELECT count(*) FROM pg_publication"));
    }

    [Fact]
    public async Task A_table_without_replica_identity_is_refused_by_name_and_nothing_is_created()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE keyed (id int PRIMARY KEY); CREATE TABLE loose (a int); CREATE TABLE full_one (a int); ALTER TABLE full_one REPLICA IDENTITY FULL");
        var migrator = s.Migrator();

        var error = await Assert.ThrowsAsync<ConfitureException>(() => migrator.SetupChangeStreamAsync());

        Assert.Equal(ConfitureErrorKind.ReplicaIdentityMissing, error.Kind);
        Assert.Contains("\"loose\"", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("full_one", error.Message, StringComparison.Ordinal);
        Assert.Empty(await SlotsAsync(s));
        Assert.Equal(["0"], await Db.RowsAsync(s.TargetAdmin, "SELECT count(*) FROM pg_foreign_server"));
    }

    [Fact]
    public async Task A_source_without_logical_wal_is_refused()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        // The target cluster runs with the default wal_level (replica): as a source it cannot stream.
        var wal = await Db.RowsAsync(s.TargetAdmin, "SHOW wal_level");
        Assert.NotEqual(["logical"], wal);
        var migrator = new SchemaToSchemaMigrator(s.Endpoint(s.TargetAdmin), s.Endpoint(s.Databases.TargetMigrator), new FdwSettings());

        var error = await Assert.ThrowsAsync<ConfitureException>(() => migrator.SetupChangeStreamAsync());

        Assert.Equal(ConfitureErrorKind.WalLevelNotLogical, error.Kind);
        Assert.Contains("wal_level = logical", error.RecommendedAction, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_role_without_replication_or_publication_rights_is_refused()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var role = "cs_" + Guid.NewGuid().ToString("N")[..10];
        await Db.ExecAsync(s.SourceAdmin, $"CREATE TABLE t (id int PRIMARY KEY); CREATE ROLE {role} LOGIN PASSWORD 'pw'; GRANT SELECT ON t TO {role}");
        try
        {
            var user = new NpgsqlConnectionStringBuilder(s.SourceAdmin) { Username = role, Password = "pw" }.ConnectionString;
            var migrator = new SchemaToSchemaMigrator(s.Endpoint(user), s.Endpoint(s.Databases.TargetMigrator), s.WithPeerAddress(new FdwSettings()));

            var noReplication = await Assert.ThrowsAsync<ConfitureException>(() => migrator.SetupChangeStreamAsync());
            Assert.Equal(ConfitureErrorKind.ReplicationNotAllowed, noReplication.Kind);
            Assert.Contains("REPLICATION", noReplication.RecommendedAction, StringComparison.Ordinal);

            await Db.ExecAsync(s.SourceAdmin, $"ALTER ROLE {role} REPLICATION");
            var noPublication = await Assert.ThrowsAsync<ConfitureException>(() => migrator.SetupChangeStreamAsync());
            Assert.Equal(ConfitureErrorKind.PublicationNotAllowed, noPublication.Kind);
            Assert.Empty(await SlotsAsync(s));
        }
        finally
        {
            await Db.ExecAsync(s.SourceAdmin, $"DROP OWNED BY {role}; DROP ROLE {role}");
        }
    }

    [Fact]
    public async Task A_table_not_yet_migrated_stops_the_sync_by_name_and_a_later_migration_without_the_snapshot_is_refused()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, $"{SourceItems}; CREATE TABLE other (id int PRIMARY KEY)");
        await Db.ExecAsync(s.Databases.TargetMigrator, $"{TargetItems}; CREATE TABLE other (id int PRIMARY KEY)");
        var migrator = s.Migrator();
        try
        {
            await migrator.SetupChangeStreamAsync();
            await migrator.MigrateTableCopyAsync(ItemsRequest);

            var notMigrated = await Assert.ThrowsAsync<ConfitureException>(() => migrator.SyncChangeStreamAsync());
            Assert.Equal(ConfitureErrorKind.ChangeStreamFailed, notMigrated.Kind);
            Assert.Contains("\"other\"", notMigrated.Message, StringComparison.Ordinal);

            // The sync let the snapshot go: copying "other" now would leave a gap.
            var gone = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "other" }));
            Assert.Equal(ConfitureErrorKind.ChangeStreamSnapshotGone, gone.Kind);

            var state = await migrator.ChangeStreamStateAsync();
            Assert.NotNull(state);
            Assert.False(state.SnapshotHeld);
            Assert.NotNull(state.RetainedWalBytes);
        }
        finally
        {
            await migrator.CleanupFdwAsync();
        }

        Assert.Empty(await SlotsAsync(s));
        Assert.Null(await migrator.ChangeStreamStateAsync());
    }

    [Fact]
    public async Task A_new_column_on_the_source_stops_the_stream_naming_the_table_with_nothing_of_the_batch_applied()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, $"{SourceItems}; INSERT INTO items SELECT g, 'Item ' || g FROM generate_series(1, 10) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, TargetItems);
        var migrator = s.Migrator();
        try
        {
            await migrator.SetupChangeStreamAsync();
            await migrator.MigrateTableCopyAsync(ItemsRequest);
            await Db.ExecAsync(s.SourceAdmin, "INSERT INTO items (id, name) VALUES (100, 'Before'); ALTER TABLE items ADD COLUMN added int; INSERT INTO items (id, name, added) VALUES (101, 'After', 1)");

            var error = await Assert.ThrowsAsync<ConfitureException>(() => migrator.SyncChangeStreamAsync(new ChangeStreamOptions { BatchSize = 100 }));

            Assert.Equal(ConfitureErrorKind.ChangeStreamSchemaChanged, error.Kind);
            Assert.Contains("items", error.Message, StringComparison.Ordinal);
            Assert.Contains("\"added\"", error.Message, StringComparison.Ordinal);
            Assert.Equal(["0"], await Db.RowsAsync(s.TargetAdmin, "SELECT count(*) FROM items WHERE item_id >= 100"));
        }
        finally
        {
            await migrator.CleanupFdwAsync();
        }

        Assert.Empty(await SlotsAsync(s));
    }

    [Fact]
    public async Task Setting_up_again_takes_over_the_stream_and_never_makes_a_second_slot()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, $"{SourceItems}; INSERT INTO items SELECT g, 'Item ' || g FROM generate_series(1, 10) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, TargetItems);
        var first = s.Migrator();
        var second = s.Migrator();
        try
        {
            await first.SetupChangeStreamAsync();
            await first.MigrateTableCopyAsync(ItemsRequest);
            await Db.ExecAsync(s.SourceAdmin, "UPDATE items SET name = 'Later' WHERE id = 3");

            // Another process (here another migrator, as after a crash) sets the same session up again.
            await second.SetupChangeStreamAsync();
            Assert.Single(await SlotsAsync(s));
            var status = await second.SyncChangeStreamAsync();

            Assert.Equal(1, status.ChangesApplied);
            await AssertSameAsync(second);
        }
        finally
        {
            await second.CleanupFdwAsync();
        }

        Assert.Empty(await SlotsAsync(s));
    }

    private static async Task AssertSameAsync(SchemaToSchemaMigrator migrator)
    {
        var verification = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "items", Checksum = true });
        Assert.True(verification.ChecksumMatch == true, string.Join("; ", verification.Differences.Select(d => d.ToString())));
    }

    private static Task<List<string>> SlotsAsync(Scenario s) =>
        Db.RowsAsync(s.SourceAdmin, "SELECT slot_name FROM pg_replication_slots WHERE database = current_database()");
}
