using Confiture.Core.Migration;
using Confiture.Core.Verification;
using Confiture.Tests.Unit.Infrastructure;
using Npgsql;

namespace Confiture.Tests.Unit.Integration;

/// <summary>Keys at the ends of their type, and what -ChangedSince has to catch besides the newest times.</summary>
/// <summary>What -ChangedSince has to catch besides the rows with the newest change times.</summary>
[Collection(ServerCollection.Name)]
public sealed class ChangedSinceTests(ServerFixture fixture)
{
    private const string Items = "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, changed_at timestamptz)";

    private static readonly TableMigrationRequest ItemsRequest = new() { SourceTable = "items" };

    private static async Task<Confiture.Core.SchemaToSchemaMigrator> MigratedItemsAsync(Scenario s)
    {
        await Db.ExecAsync(s.SourceAdmin,
            $"{Items}; INSERT INTO items SELECT g, 'Item ' || g, CASE WHEN g % 10 = 0 THEN NULL ELSE '2024-06-01 08:00:00+00'::timestamptz + g * interval '1 minute' END FROM generate_series(1, 5000) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, Items);
        var migrator = s.Migrator();
        await migrator.MigrateTableCopyAsync(ItemsRequest);
        await migrator.SyncTableAsync(ItemsRequest, changedSince: "changed_at");
        return migrator;
    }

    [Fact]
    public async Task ChangedSince_brings_rows_whose_change_column_is_null()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var migrator = await MigratedItemsAsync(s);
        await Db.ExecAsync(s.SourceAdmin, "UPDATE items SET name = 'Renamed' WHERE id = 20; INSERT INTO items VALUES (9001, 'No time', NULL)");

        var result = await migrator.SyncTableAsync(ItemsRequest, changedSince: "changed_at");

        Assert.Equal(new SyncResult(1, 1, 0, 0), result.Sync);
        Assert.Equal(["20 | Renamed", "9001 | No time"], await Db.RowsAsync(s.TargetAdmin, "SELECT id, name FROM items WHERE id IN (20, 9001) ORDER BY id"));
        Assert.True((await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "items", Checksum = true })).ChecksumMatch);
    }

    [Fact]
    public async Task ChangedSince_brings_a_row_whose_transaction_began_before_the_last_sync_and_committed_after_it()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var migrator = await MigratedItemsAsync(s);

        await using var late = new NpgsqlConnection(s.SourceAdmin);
        await late.OpenAsync();
        await using var transaction = await late.BeginTransactionAsync();
        // now() is the time the transaction began: older than what the next sync sees as newest.
        await using (var insert = new NpgsqlCommand("INSERT INTO items VALUES (9002, 'Late', now()); UPDATE items SET name = 'Late too' WHERE id = 30", late, transaction))
        {
            await insert.ExecuteNonQueryAsync();
        }

        await Task.Delay(50);
        await Db.ExecAsync(s.SourceAdmin, "UPDATE items SET name = 'Newer', changed_at = clock_timestamp() WHERE id = 5");
        var first = await migrator.SyncTableAsync(ItemsRequest, changedSince: "changed_at");
        await transaction.CommitAsync();
        var second = await migrator.SyncTableAsync(ItemsRequest, changedSince: "changed_at");

        Assert.Equal(new SyncResult(0, 1, 0, 0), first.Sync);
        Assert.Equal(new SyncResult(1, 1, 0, 0), second.Sync);
        Assert.Equal(["5 | Newer", "30 | Late too", "9002 | Late"], await Db.RowsAsync(s.TargetAdmin, "SELECT id, name FROM items WHERE id IN (5, 30, 9002) ORDER BY id"));
        Assert.True((await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "items", Checksum = true })).ChecksumMatch);
    }

    [Fact]
    public async Task The_first_ChangedSince_sync_compares_the_whole_table_and_catches_what_the_migration_missed()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, $"{Items}; INSERT INTO items SELECT g, 'Item ' || g, '2024-06-01 08:00:00+00'::timestamptz + g * interval '1 minute' FROM generate_series(1, 2000) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, Items);
        var migrator = s.Migrator();
        await migrator.MigrateTableCopyAsync(ItemsRequest);
        // Written after the migration with a time older than the newest the target holds.
        await Db.ExecAsync(s.SourceAdmin, "UPDATE items SET name = 'Old time' WHERE id = 10");

        var result = await migrator.SyncTableAsync(ItemsRequest, changedSince: "changed_at");

        Assert.True(result.Sync!.RangesCompared > 0);
        Assert.Equal(1, result.Sync.RowsUpdated);
        Assert.Equal(["Old time"], await Db.RowsAsync(s.TargetAdmin, "SELECT name FROM items WHERE id = 10"));
    }

    [Fact]
    public async Task A_role_that_may_not_record_the_mark_still_syncs_and_the_next_sync_compares_the_whole_table()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, $"{Items}; INSERT INTO items SELECT g, 'Item ' || g, now() FROM generate_series(1, 1000) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, Items);
        var migrator = s.Migrator();
        await migrator.MigrateTableCopyAsync(ItemsRequest);
        // The record's schema exists, made by another role that grants nothing.
        await Db.ExecAsync(s.TargetAdmin, "DROP SCHEMA IF EXISTS confiture CASCADE; CREATE SCHEMA confiture");
        await Db.ExecAsync(s.SourceAdmin, "UPDATE items SET name = 'First' WHERE id = 1");
        var observer = new RecordingObserver();

        var first = await migrator.SyncTableAsync(ItemsRequest, changedSince: "changed_at", observer);
        await Db.ExecAsync(s.SourceAdmin, "UPDATE items SET name = 'Second' WHERE id = 2");
        var second = await migrator.SyncTableAsync(ItemsRequest, changedSince: "changed_at", observer);

        Assert.Equal(1, first.Sync!.RowsUpdated);
        Assert.Equal(1, second.Sync!.RowsUpdated);
        Assert.True(second.Sync.RangesCompared > 0);
        Assert.Contains(observer.Warnings, w => w.Contains("could not record", StringComparison.Ordinal));
        Assert.Equal(["1 | First", "2 | Second"], await Db.RowsAsync(s.TargetAdmin, "SELECT id, name FROM items WHERE id <= 2 ORDER BY id"));
    }

    [Fact]
    public async Task ChangedSince_works_through_a_converted_change_column()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin,
            "CREATE TABLE notes (id integer PRIMARY KEY, body text, changed_at timestamp); INSERT INTO notes SELECT g, 'Note ' || g, '2024-06-01 08:00' FROM generate_series(1, 500) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE notes (id bigint PRIMARY KEY, body text, changed_at timestamptz)");
        var migrator = s.Migrator();
        var request = new TableMigrationRequest { SourceTable = "notes" };
        await migrator.MigrateTableCopyAsync(request);
        await migrator.SyncTableAsync(request, changedSince: "changed_at");
        await Db.ExecAsync(s.SourceAdmin, "UPDATE notes SET body = 'Edited', changed_at = '2024-06-02 09:00' WHERE id = 9; DELETE FROM notes WHERE id = 10");

        var result = await migrator.SyncTableAsync(request, changedSince: "changed_at");

        Assert.Equal(new SyncResult(0, 1, 1, 0), result.Sync);
        Assert.Equal(["Edited"], await Db.RowsAsync(s.TargetAdmin, "SELECT body FROM notes WHERE id = 9"));
        Assert.True((await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "notes", Checksum = true })).ChecksumMatch);
    }
}
