using Confiture.Core.Migration;
using Confiture.Tests.Unit.Infrastructure;

namespace Confiture.Tests.Unit.Integration;

/// <summary>
/// The application switched to the target must find planner statistics on every table it was
/// given, at once: not minutes later, whenever autovacuum comes by (the test targets run with it
/// on, so each assertion is made right after the load, long before autovacuum's first pass).
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class AnalyzeTests(ServerFixture fixture)
{
    public static TheoryData<MigrationStrategy> Strategies => [MigrationStrategy.Fdw, MigrationStrategy.Copy];

    private const string Source =
        "CREATE TABLE items (id bigint PRIMARY KEY, kind text, price numeric); INSERT INTO items SELECT g, 'k' || (g % 7), g / 3.0 FROM generate_series(1, 3000) g";

    private const string Target = "CREATE TABLE items (id bigint PRIMARY KEY, kind text, price numeric); ALTER TABLE items SET (autovacuum_enabled = off)";

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task A_migrated_table_has_statistics_when_the_call_returns(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Source);
        await Db.ExecAsync(s.Databases.TargetMigrator, Target);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var result = await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "items" }, strategy);

        Assert.NotNull(result.AnalyzeElapsed);
        Assert.True(result.AnalyzeElapsed <= result.Elapsed);
        Assert.Equal(3L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'items'"));
        Assert.Equal(3000f, await Db.ScalarAsync<float>(s.TargetAdmin, "SELECT reltuples FROM pg_class WHERE oid = 'items'::regclass"));
        Assert.True(await Db.ScalarAsync<bool>(s.TargetAdmin, "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relid = 'items'::regclass"));
        // The kinds' frequencies are what the planner now estimates from.
        Assert.Equal(7L, await Db.ScalarAsync<long>(s.TargetAdmin,
            "SELECT cardinality(most_common_vals::text::text[])::bigint FROM pg_stats WHERE tablename = 'items' AND attname = 'kind'"));
    }

    [Fact]
    public async Task SkipAnalyze_leaves_the_table_without_statistics()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Source);
        await Db.ExecAsync(s.Databases.TargetMigrator, Target);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var plan = await migrator.PlanMigrationAsync(new TableMigrationRequest { SourceTable = "items", SkipAnalyze = true }, MigrationStrategy.Copy);
        Assert.DoesNotContain(plan, line => line.StartsWith("ANALYZE", StringComparison.Ordinal));
        var result = await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "items", SkipAnalyze = true }, MigrationStrategy.Copy);

        Assert.Null(result.AnalyzeElapsed);
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'items'"));
        Assert.True(await Db.ScalarAsync<bool>(s.TargetAdmin, "SELECT last_analyze IS NULL FROM pg_stat_user_tables WHERE relid = 'items'::regclass"));
    }

    [Fact]
    public async Task A_table_the_role_may_not_analyze_is_loaded_and_said_not_analyzed()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Source);
        // Owned by another role, in a database the migration role does not own either: PostgreSQL
        // would skip its ANALYZE with a mere notice.
        var role = Confiture.TestServers.TestRoles.MigratorUser;
        await Db.ExecAsync(s.TargetAdmin,
            $"ALTER DATABASE \"{s.Databases.TargetDatabase}\" OWNER TO CURRENT_USER; GRANT CREATE, TEMP ON DATABASE \"{s.Databases.TargetDatabase}\" TO {role}; " +
            Target + $"; GRANT SELECT, INSERT, UPDATE ON items TO {role}");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        var observer = new RecordingObserver();

        var result = await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "items" }, MigrationStrategy.Copy, observer);

        Assert.Equal(3000, result.RowsMigrated);
        Assert.Null(result.AnalyzeElapsed);
        var warning = Assert.Single(observer.Warnings);
        Assert.Contains("\"public\".\"items\" was not analyzed", warning, StringComparison.Ordinal);
        Assert.Contains("run ANALYZE \"public\".\"items\" as its owner", warning, StringComparison.Ordinal);
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'items'"));
    }

    [Fact]
    public async Task A_frozen_load_leaves_every_page_all_visible_and_the_plan_shows_the_analyze()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Source);
        await Db.ExecAsync(s.Databases.TargetMigrator, Target + "; INSERT INTO items VALUES (-1, 'old', 0)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        var request = new TableMigrationRequest { SourceTable = "items", Truncate = true };

        var plan = await migrator.PlanMigrationAsync(request, MigrationStrategy.Copy);
        Assert.Contains(plan, line => line.StartsWith("ANALYZE \"public\".\"items\"", StringComparison.Ordinal));
        var observer = new RecordingObserver();
        await migrator.MigrateAsync(request, MigrationStrategy.Copy, observer);

        Assert.Empty(observer.Warnings);
        var pages = await Db.RowsAsync(s.TargetAdmin, "SELECT relpages > 0, relallvisible = relpages FROM pg_class WHERE oid = 'items'::regclass");
        Assert.Equal(["True | True"], pages);
    }

    [Fact]
    public async Task A_partitioned_target_has_statistics_on_the_parent_and_every_partition()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Source);
        await Db.ExecAsync(s.Databases.TargetMigrator,
            """
            CREATE TABLE items (id bigint PRIMARY KEY, kind text, price numeric) PARTITION BY RANGE (id);
            CREATE TABLE items_low PARTITION OF items FOR VALUES FROM (MINVALUE) TO (1500);
            CREATE TABLE items_high PARTITION OF items FOR VALUES FROM (1500) TO (MAXVALUE);
            """);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "items" }, MigrationStrategy.Copy);

        Assert.Equal(["items | True | 3", "items_high | False | 3", "items_low | False | 3"], await Db.RowsAsync(s.TargetAdmin,
            "SELECT tablename, inherited, count(*) FROM pg_stats WHERE schemaname = 'public' GROUP BY 1, 2 ORDER BY 1"));
        // PostgreSQL 15 lists the partitioned table itself in pg_stat_user_tables too, analyzed with its partitions.
        Assert.Equal(["items | True", "items_high | True", "items_low | True"], await Db.RowsAsync(s.TargetAdmin,
            "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname LIKE 'items%' ORDER BY 1"));
    }

    [Fact]
    public async Task A_sync_that_changed_over_a_tenth_of_the_rows_analyzes_and_a_small_one_does_not()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Source);
        await Db.ExecAsync(s.Databases.TargetMigrator, Target);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "items" }, MigrationStrategy.Copy);

        await Db.ExecAsync(s.SourceAdmin, "UPDATE items SET kind = 'changed' WHERE id <= 10");
        var small = await migrator.SyncTableAsync(new TableMigrationRequest { SourceTable = "items" });
        Assert.Equal(10, small.RowsMigrated);
        Assert.Null(small.AnalyzeElapsed);

        await Db.ExecAsync(s.SourceAdmin, "UPDATE items SET kind = 'new' WHERE id <= 1000");
        var large = await migrator.SyncTableAsync(new TableMigrationRequest { SourceTable = "items" });
        Assert.Equal(1000, large.RowsMigrated);
        Assert.NotNull(large.AnalyzeElapsed);
        Assert.True(await Db.ScalarAsync<bool>(s.TargetAdmin,
            "SELECT 'new' = ANY (most_common_vals::text::text[]) FROM pg_stats WHERE tablename = 'items' AND attname = 'kind'"));
    }
}
