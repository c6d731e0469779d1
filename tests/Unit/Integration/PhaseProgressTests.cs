using Confiture.Core;
using Confiture.Core.Migration;
using Confiture.Core.Verification;
using Confiture.Tests.Unit.Infrastructure;

namespace Confiture.Tests.Unit.Integration;

/// <summary>
/// A checksum and a sync say what phase they are in and how far, as they go, for a table of tens
/// of thousands of rows; reading the table in parts leaves the digests exactly what one query gives.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class PhaseProgressTests(ServerFixture fixture)
{
    /// <summary>The digest of (id, v) as one statement over the whole table computes it.</summary>
    private const string WholeDigest = "SELECT coalesce(sum(hashtextextended(ROW(id, v)::text, 0)), 0)::text FROM reading";

    private static async Task<SchemaToSchemaMigrator> MigratedAsync(Scenario s, string keys)
    {
        await Db.ExecAsync(s.SourceAdmin,
            $"CREATE TABLE reading (id bigint PRIMARY KEY, v text); INSERT INTO reading SELECT {keys}, 'reading number ' || g FROM generate_series(1, 50000) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE reading (id bigint PRIMARY KEY, v text)");
        var migrator = s.Migrator();
        await migrator.MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "reading" });
        return migrator;
    }

    private static List<MigrationProgress> Phase(RecordingObserver observer, string phase) =>
        observer.ProgressReports.Where(p => p.Phase?.StartsWith(phase, StringComparison.Ordinal) == true).ToList();

    /// <summary>A phase's reports: more than one, parts done rising to the total, the total what both tables hold.</summary>
    private static void AssertRises(List<MigrationProgress> reports, long total)
    {
        Assert.True(reports.Count > 2, $"a report as each part ends, got {reports.Count}");
        Assert.All(reports, r => Assert.Equal(total, r.PartsTotal));
        var done = reports.Select(r => r.PartsDone).ToList();
        Assert.Equal(0, done[0]);
        Assert.Equal(done.Distinct().Order().ToList(), done);
        Assert.Equal(total, done[^1]);
    }

    [Fact]
    public async Task A_checksum_reports_blocks_hashed_on_both_servers_and_its_digests_are_those_of_one_query()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var migrator = await MigratedAsync(s, "g");
        await Db.ExecAsync(s.TargetAdmin, "UPDATE reading SET v = 'changed' WHERE id = 25000");
        var blocks = await Db.ScalarAsync<long>(s.SourceAdmin, "SELECT pg_relation_size('reading') / current_setting('block_size')::bigint")
            + await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT pg_relation_size('reading') / current_setting('block_size')::bigint");
        var observer = new RecordingObserver();

        var result = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "reading", Checksum = true }, observer);

        var hashing = Phase(observer, "Hashing both tables");
        Assert.Equal(hashing.Count, observer.ProgressReports.Count);
        AssertRises(hashing, blocks);
        Assert.All(hashing, r => Assert.Equal("reading", r.Table));
        Assert.Equal("blocks", hashing[0].Parts);
        Assert.Equal(100000L, hashing[^1].RowsDone);
        Assert.Equal(await Db.ScalarAsync<string>(s.SourceAdmin, WholeDigest), result.SourceChecksum);
        Assert.Equal(await Db.ScalarAsync<string>(s.TargetAdmin, WholeDigest), result.TargetChecksum);
        Assert.False(result.Match);
        Assert.Equal(50000L, result.SourceCount);
        Assert.Equal(50000L, result.TargetCount);
    }

    [Fact]
    public async Task A_sync_reports_hashing_narrowing_and_rewriting_with_their_totals()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        // Keys 500 apart span more than one level of key ranges can hold: the sync has to narrow.
        var migrator = await MigratedAsync(s, "g * 500");
        await Db.ExecAsync(s.SourceAdmin,
            "UPDATE reading SET v = 'changed' WHERE id % 50000 = 0; DELETE FROM reading WHERE id IN (500, 1000); INSERT INTO reading VALUES (7, 'new'), (30000001, 'new')");
        var observer = new RecordingObserver();

        var result = await migrator.SyncTableAsync(new TableMigrationRequest { SourceTable = "reading" }, observer: observer);

        Assert.Equal(new SyncResult(2, 500, 2, result.Sync!.RangesCompared), result.Sync);
        var hashing = Phase(observer, "Hashing key ranges of both tables");
        AssertRises(hashing, hashing[0].PartsTotal!.Value);
        Assert.True(hashing[0].PartsTotal > 20, "both tables' blocks");
        Assert.Equal(100000L, hashing[^1].RowsDone);
        var narrowing = Phase(observer, "Narrowing ");
        Assert.Equal("key ranges", narrowing[0].Parts);
        AssertRises(narrowing, narrowing[0].PartsTotal!.Value);
        Assert.Equal($"Narrowing {narrowing[0].PartsTotal:N0} key ranges", narrowing[0].Phase);
        Assert.Equal(504L, narrowing[0].PartsTotal);
        // 504 ranges differ (500 changed rows, 2 gone, 2 new, each in a range of its own): two passes of at most 500.
        var rewriting = Phase(observer, "Rewriting the rows of ");
        Assert.Equal("Rewriting the rows of 504 key ranges", rewriting[0].Phase);
        AssertRises(rewriting, 504);
        Assert.Equal([0L, 500L, 504L], rewriting.Select(r => r.PartsDone));
        Assert.Equal(504L, rewriting[^1].RowsDone);
        Assert.True((await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "reading", Checksum = true })).Match);
    }

    [Fact]
    public async Task Where_one_query_of_the_table_would_get_parallel_workers_as_many_connections_share_the_sides_snapshot_and_the_digest_stays_the_same()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        // The server's own settings say a scan of this table gets two workers (the default at most, from 8 kB on).
        foreach (var (admin, database) in new[] { (s.SourceAdmin, s.Databases.SourceDatabase), (s.TargetAdmin, s.Databases.TargetDatabase) })
        {
            await Db.ExecAsync(admin, $"ALTER DATABASE \"{database}\" SET min_parallel_table_scan_size = '8kB'; ALTER DATABASE \"{database}\" SET max_parallel_workers_per_gather = 2");
        }

        var migrator = await MigratedAsync(s, "g");
        // An empty target reports no block: the first blocks reported are the source's, read once all its readers are in place.
        await Db.ExecAsync(s.TargetAdmin, "TRUNCATE reading");
        var readers = new System.Collections.Concurrent.ConcurrentBag<long>();
        var observer = new RecordingObserver
        {
            OnProgress = p =>
            {
                if (p.PartsDone > 0 && readers.IsEmpty)
                {
                    readers.Add(Db.ScalarAsync<long>(s.SourceAdmin,
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND xact_start IS NOT NULL")
                        .GetAwaiter().GetResult());
                }
            },
        };

        var result = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "reading", Checksum = true }, observer);

        Assert.Equal([3L], readers);
        var blocks = await Db.ScalarAsync<long>(s.SourceAdmin, "SELECT pg_relation_size('reading') / current_setting('block_size')::bigint");
        // The empty target's one report adds no block: the reports of the source's blocks rise through it.
        var hashed = Phase(observer, "Hashing both tables").Select(r => r.PartsDone).ToList();
        Assert.Equal(hashed.Order().ToList(), hashed);
        Assert.True(hashed.Distinct().Count() > 3, "a report as each range ends");
        Assert.Equal(blocks, hashed[^1]);
        Assert.Equal(await Db.ScalarAsync<string>(s.SourceAdmin, WholeDigest), result.SourceChecksum);
        Assert.Equal("0", result.TargetChecksum);
        Assert.Equal(50000L, result.SourceCount);

        // A sync reads its whole-table pass the same way, the target's readers joining its writable transaction's snapshot.
        var sync = await migrator.SyncTableAsync(new TableMigrationRequest { SourceTable = "reading" });
        var after = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "reading", Checksum = true });
        Assert.Equal(50000L, sync.Sync!.RowsInserted);
        Assert.True(after.Match);
        Assert.Equal(result.SourceChecksum, after.TargetChecksum);
        await Db.ExecAsync(s.SourceAdmin, "UPDATE reading SET v = 'changed' WHERE id = 49999");
        var again = await migrator.SyncTableAsync(new TableMigrationRequest { SourceTable = "reading" });
        Assert.Equal(new SyncResult(0, 1, 0, again.Sync!.RangesCompared), again.Sync);
        Assert.True((await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "reading", Checksum = true })).Match);
    }

    [Fact]
    public async Task A_partitioned_table_read_in_block_ranges_of_every_partition_digests_and_syncs_as_one_query_says()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        // Partitions of unlike sizes: the block ranges run over both at once, the small one ends early.
        await Db.ExecAsync(s.SourceAdmin,
            """
            CREATE TABLE reading (id bigint PRIMARY KEY, v text) PARTITION BY RANGE (id);
            CREATE TABLE reading_low PARTITION OF reading FOR VALUES FROM (MINVALUE) TO (5000);
            CREATE TABLE reading_high PARTITION OF reading FOR VALUES FROM (5000) TO (MAXVALUE);
            INSERT INTO reading SELECT g, 'reading number ' || g FROM generate_series(1, 60000) g;
            """);
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE reading (id bigint PRIMARY KEY, v text)");
        var migrator = s.Migrator();
        await migrator.MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "reading" });
        await Db.ExecAsync(s.SourceAdmin, "UPDATE reading SET v = 'changed' WHERE id IN (10, 4999, 5000, 59999)");
        var observer = new RecordingObserver();

        var before = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "reading", Checksum = true }, observer);
        var sync = await migrator.SyncTableAsync(new TableMigrationRequest { SourceTable = "reading" });
        var after = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "reading", Checksum = true });

        // The source's parts are sized by its largest partition: well over one part of 32 blocks.
        var largest = await Db.ScalarAsync<long>(s.SourceAdmin, "SELECT pg_relation_size('reading_high') / current_setting('block_size')::bigint");
        var target = await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT pg_relation_size('reading') / current_setting('block_size')::bigint");
        Assert.True(largest > 64, $"{largest} blocks");
        AssertRises(Phase(observer, "Hashing both tables"), largest + target);
        Assert.Equal(await Db.ScalarAsync<string>(s.SourceAdmin, WholeDigest), before.SourceChecksum);
        Assert.False(before.Match);
        Assert.Equal(4, sync.Sync!.RowsUpdated);
        Assert.True(after.Match);
        Assert.Equal(await Db.ScalarAsync<string>(s.SourceAdmin, WholeDigest), after.SourceChecksum);
        Assert.Equal(await Db.ScalarAsync<string>(s.TargetAdmin, WholeDigest), after.TargetChecksum);
    }

    [Fact]
    public async Task A_checksum_cancelled_while_it_hashes_stops_with_the_cancel()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var migrator = await MigratedAsync(s, "g");
        using var cancel = new CancellationTokenSource();
        var observer = new RecordingObserver { OnProgress = p => { if (p.PartsDone > 0) { cancel.Cancel(); } } };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "reading", Checksum = true }, observer, cancel.Token));

        Assert.True(observer.ProgressReports.Max(p => p.PartsDone) < observer.ProgressReports.First().PartsTotal, "stopped before every block was hashed");
    }
}
