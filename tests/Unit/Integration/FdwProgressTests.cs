using Confiture.Core.Migration;
using Confiture.Tests.Unit.Infrastructure;

namespace Confiture.Tests.Unit.Integration;

/// <summary>An Fdw load reports progress as it goes: key ranges of one transaction, one remote snapshot.</summary>
[Collection(ServerCollection.Name)]
public sealed class FdwProgressTests(ServerFixture fixture)
{
    [Fact]
    public async Task An_fdw_load_of_a_table_with_an_integer_key_reports_rows_range_by_range_and_moves_every_row_once()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        // Keys outside the bulk (below, above, negative) must fall in the open first and last ranges.
        await Db.ExecAsync(s.SourceAdmin,
            """
            CREATE TABLE reading (id bigint PRIMARY KEY, v int);
            INSERT INTO reading SELECT g, g FROM generate_series(1, 350000) g;
            INSERT INTO reading VALUES (-5, -5), (9000000000, 1);
            """);
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE reading (id bigint PRIMARY KEY, v int)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        var observer = new RecordingObserver();

        var result = await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "reading" }, MigrationStrategy.Fdw, observer);

        Assert.Equal(350002L, result.RowsMigrated);
        Assert.Equal(350002L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(DISTINCT id) FROM reading"));
        var inserts = observer.Statements.Where(t => t.StartsWith("INSERT INTO \"public\".\"reading\"", StringComparison.Ordinal)).ToList();
        Assert.True(inserts.Count > 1, $"one INSERT per key range, got {inserts.Count}");
        Assert.EndsWith("WHERE \"id\" < ", inserts[0][..(inserts[0].LastIndexOf(' ') + 1)], StringComparison.Ordinal);
        var reports = observer.ProgressReports.Select(p => p.RowsDone).ToList();
        Assert.Equal(inserts.Count, reports.Count);
        Assert.Equal(reports.Order().ToList(), reports);
        Assert.Equal(350002L, reports[^1]);
    }
}
