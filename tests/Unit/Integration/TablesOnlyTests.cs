using Confiture.Core;
using Confiture.Core.Migration;
using Confiture.Tests.Unit.Infrastructure;

namespace Confiture.Tests.Unit.Integration;

/// <summary>
/// A real source schema holds views, materialized views and partitions besides its tables: only
/// tables are migrated and compared, and naming anything else says what it is.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class TablesOnlyTests(ServerFixture fixture)
{
    public static TheoryData<MigrationStrategy> Strategies => [MigrationStrategy.Fdw, MigrationStrategy.Copy];

    private const string Schema =
        """
        CREATE TABLE t (id int PRIMARY KEY, v text);
        CREATE TABLE p (id int NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
        CREATE TABLE p_2024 PARTITION OF p FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        """;

    private static async Task<Scenario> WorldAsync(ServerFixture fixture)
    {
        var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Schema +
            """
            INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 20) g;
            INSERT INTO p SELECT g, date '2024-01-01' + g FROM generate_series(1, 30) g;
            CREATE VIEW v AS SELECT v, count(*) AS n FROM t GROUP BY v;
            CREATE MATERIALIZED VIEW mv AS SELECT id FROM t WITH NO DATA;
            """);
        // The new schema has tables of the same names, as a careless default list would expect.
        await Db.ExecAsync(s.Databases.TargetMigrator, Schema + "CREATE TABLE v (v text, n bigint); CREATE TABLE mv (id int);");
        return s;
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task Naming_a_view_a_materialized_view_or_a_partition_says_what_it_is_and_writes_nothing(MigrationStrategy strategy)
    {
        await using var s = await WorldAsync(fixture);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        async Task<ConfitureException> Refused(string table) =>
            await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateAsync(new TableMigrationRequest { SourceTable = table }, strategy));

        var view = await Refused("v");
        Assert.Equal(ConfitureErrorKind.NotATable, view.Kind);
        Assert.Contains("\"public\".\"v\"", view.Message, StringComparison.Ordinal);
        Assert.Contains("is a view", view.Message, StringComparison.Ordinal);
        Assert.Equal("v", view.Target);

        var materialized = await Refused("mv");
        Assert.Equal(ConfitureErrorKind.NotATable, materialized.Kind);
        Assert.Contains("is a materialized view", materialized.Message, StringComparison.Ordinal);

        var partition = await Refused("p_2024");
        Assert.Equal(ConfitureErrorKind.NotATable, partition.Kind);
        Assert.Contains("is a partition of the partitioned table \"public\".\"p\"", partition.Message, StringComparison.Ordinal);
        Assert.Contains("\"p\"", partition.RecommendedAction, StringComparison.Ordinal);

        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT (SELECT count(*) FROM v) + (SELECT count(*) FROM mv) + (SELECT count(*) FROM p)"));
    }

    [Fact]
    public async Task Verifying_or_sizing_a_view_or_a_partition_says_what_it_is()
    {
        await using var s = await WorldAsync(fixture);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var count = await Assert.ThrowsAsync<ConfitureException>(() => migrator.VerifyMigrationAsync("v"));
        Assert.Equal(ConfitureErrorKind.NotATable, count.Kind);
        Assert.Contains("Cannot verify \"public\".\"v\"", count.Message, StringComparison.Ordinal);
        Assert.Contains("is a view", count.Message, StringComparison.Ordinal);

        var checksum = await Assert.ThrowsAsync<ConfitureException>(() => migrator.VerifyMigrationAsync(
            new Confiture.Core.Verification.VerificationRequest { SourceTable = "mv", Checksum = true }));
        Assert.Contains("is a materialized view", checksum.Message, StringComparison.Ordinal);

        var partition = await Assert.ThrowsAsync<ConfitureException>(() => migrator.VerifyMigrationAsync("p_2024"));
        Assert.Contains("is a partition of the partitioned table \"public\".\"p\"", partition.Message, StringComparison.Ordinal);

        var sized = await Assert.ThrowsAsync<ConfitureException>(() => migrator.AnalyzeTablesAsync(tables: ["t", "p_2024"]));
        Assert.Equal(ConfitureErrorKind.NotATable, sized.Kind);
        Assert.Contains("is a partition of", sized.Message, StringComparison.Ordinal);

        var missing = await Assert.ThrowsAsync<ConfitureException>(() => migrator.VerifyMigrationAsync("nothing_here"));
        Assert.Equal(ConfitureErrorKind.TableNotFound, missing.Kind);
    }

    [Fact]
    public async Task Default_lists_hold_only_tables_and_they_all_verify_after_a_migration()
    {
        await using var s = await WorldAsync(fixture);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        Assert.Equal(["p", "t"], (await migrator.AnalyzeTablesAsync()).Select(t => t.Table));
        var tables = await migrator.TablesAmongAsync(["v", "t", "mv", "p_2024", "p", "nothing_here"]);
        Assert.Equal(["t", "p"], tables);

        foreach (var table in tables)
        {
            await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = table }, MigrationStrategy.Copy);
            Assert.True((await migrator.VerifyMigrationAsync(new Confiture.Core.Verification.VerificationRequest { SourceTable = table, Checksum = true })).Match);
        }
    }

    [Fact]
    public async Task DeferIndexes_on_a_partitioned_table_says_why_not_and_what_to_do_before_any_write()
    {
        await using var s = await WorldAsync(fixture);
        await Db.ExecAsync(s.Databases.TargetMigrator, "ALTER TABLE p ADD PRIMARY KEY (id, at); INSERT INTO p VALUES (-1, '2024-05-05')");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var refused = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateAsync(
            new TableMigrationRequest { SourceTable = "p", DeferIndexes = true, Truncate = true }, MigrationStrategy.Copy));

        Assert.Equal(ConfitureErrorKind.InvalidArgument, refused.Kind);
        Assert.Contains("partitioned table \"public\".\"p\"", refused.Message, StringComparison.Ordinal);
        Assert.Contains("each partition's index is attached", refused.Message, StringComparison.Ordinal);
        Assert.Contains("Leave -DeferIndexes out for \"p\"", refused.RecommendedAction, StringComparison.Ordinal);
        Assert.Equal(["-1"], await Db.RowsAsync(s.TargetAdmin, "SELECT id FROM p"));

        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "p", Truncate = true }, MigrationStrategy.Copy);
        Assert.Equal(30L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM p"));
    }
}
