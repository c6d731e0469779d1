using Confiture.Core;
using Confiture.Core.Migration;
using Confiture.Core.Planning;
using Confiture.Tests.Unit.Infrastructure;

namespace Confiture.Tests.Unit.Integration;

[Collection(ServerCollection.Name)]
public sealed class PlanningAndVerificationTests(ServerFixture fixture)
{
    [Fact]
    public async Task The_planner_picks_copy_at_or_above_the_threshold_and_fdw_below()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin,
            """
            CREATE TABLE large (id int); INSERT INTO large SELECT generate_series(1, 5000); ANALYZE large;
            CREATE TABLE small (id int); INSERT INTO small SELECT generate_series(1, 40);
            CREATE TABLE edge (id int); INSERT INTO edge SELECT generate_series(1, 1000);
            """);
        var options = new StrategyOptions { CopyThreshold = 1000, FdwRowsPerSecond = 100, CopyRowsPerSecond = 1000 };
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var plans = await migrator.AnalyzeTablesAsync(options: options);

        Assert.Equal(["edge", "large", "small"], plans.Select(p => p.Table));
        var byName = plans.ToDictionary(p => p.Table);
        Assert.Equal((MigrationStrategy.Copy, 5000L, false), (byName["large"].Strategy, byName["large"].RowCount, byName["large"].IsExact));
        Assert.Equal(5.0, byName["large"].EstimatedSeconds, 3);
        Assert.Equal((MigrationStrategy.Fdw, 40L, true), (byName["small"].Strategy, byName["small"].RowCount, byName["small"].IsExact));
        Assert.Equal(0.4, byName["small"].EstimatedSeconds, 3);
        Assert.Equal(MigrationStrategy.Copy, byName["edge"].Strategy);
    }

    [Fact]
    public async Task Tables_the_target_cannot_read_through_postgres_fdw_are_always_copied()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int); CREATE TABLE b (id int); CREATE SCHEMA archive; CREATE TABLE archive.c (id int)");
        var migrator = s.Migrator(new Confiture.Core.Fdw.FdwSettings { Tables = ["a"] });
        await migrator.SetupFdwAsync();

        var main = await migrator.AnalyzeTablesAsync();
        var archive = await migrator.AnalyzeTablesAsync("archive");

        Assert.Equal(["a Fdw", "b Copy"], main.Select(p => $"{p.Table} {p.Strategy}"));
        Assert.Equal(["c Copy"], archive.Select(p => $"{p.Table} {p.Strategy}"));
    }

    [Fact]
    public async Task The_planner_names_a_schema_that_does_not_exist()
    {
        await using var s = await Scenario.CreateAsync(fixture);

        var error = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator().AnalyzeTablesAsync("no_such_schema"));

        Assert.Equal(ConfitureErrorKind.SchemaNotFound, error.Kind);
        Assert.Contains("no_such_schema", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_planner_names_a_table_that_does_not_exist()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int)");

        var error = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator().AnalyzeTablesAsync(tables: ["a", "ghost"]));

        Assert.Equal(ConfitureErrorKind.TableNotFound, error.Kind);
        Assert.Contains("\"ghost\"", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verification_counts_each_side_directly_through_a_renamed_table()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE users (id int); INSERT INTO users SELECT generate_series(1, 30)");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE SCHEMA app; CREATE TABLE app.members (id int); INSERT INTO app.members SELECT generate_series(1, 30)");

        var result = await s.Migrator().VerifyMigrationAsync("users", "members", targetSchema: "app");

        Assert.Equal((30L, 30L, true, 0L), (result.SourceCount, result.TargetCount, result.Match, result.Difference));
        Assert.Equal(("users", "members"), (result.SourceTable, result.TargetTable));
    }

    [Fact]
    public async Task Verification_reports_missing_rows_as_a_negative_difference()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 30)");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 27)");

        var result = await s.Migrator().VerifyMigrationAsync("t");

        Assert.False(result.Match);
        Assert.Equal(-3, result.Difference);
    }

    [Fact]
    public async Task Verification_names_a_missing_target_table()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE t (id int)");

        var error = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator().VerifyMigrationAsync("t", "not_there"));

        Assert.Equal(ConfitureErrorKind.TableNotFound, error.Kind);
        Assert.Contains("not_there", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_planner_samples_a_large_table_with_foreign_keys_the_same_first_rows_through_both_paths()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        // Larger than a quarter of shared_buffers: its scans are synchronized, so a LIMIT alone
        // would read each sample where the previous one stopped, and the Fdw sample's rows would
        // reference parents the first sample's keys do not hold.
        const string schema =
            """
            CREATE TABLE parent (id int PRIMARY KEY);
            CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent, pad text NOT NULL);
            """;
        await Db.ExecAsync(s.SourceAdmin, schema +
            """
            INSERT INTO parent SELECT generate_series(1, 400000);
            INSERT INTO child SELECT g, g, repeat('x', 80) FROM generate_series(1, 400000) g;
            ANALYZE parent; ANALYZE child;
            """);
        await Db.ExecAsync(s.Databases.TargetMigrator, schema);
        var shared = await Db.ScalarAsync<long>(s.SourceAdmin, "SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'");
        Assert.True(await Db.ScalarAsync<long>(s.SourceAdmin, "SELECT pg_table_size('child')") > shared / 4, "the table must be large enough for synchronized scans");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var plan = Assert.Single(await migrator.AnalyzeTablesAsync(tables: ["child"], options: new StrategyOptions { SampleRows = 20_000 }));

        Assert.Equal("Sampled", plan.Basis);
        Assert.Contains(plan.Assumptions, a => a.Contains("and 1 foreign key(s)", StringComparison.Ordinal));
        Assert.Contains(plan.Assumptions, a => a.StartsWith("ANALYZE after the load", StringComparison.Ordinal));
        Assert.DoesNotContain(plan.Assumptions, a => a.Contains("not sampled", StringComparison.Ordinal) || a.Contains("sample failed", StringComparison.Ordinal));
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM child"));
    }
}
