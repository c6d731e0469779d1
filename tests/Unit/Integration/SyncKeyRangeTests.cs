using Confiture.Core.Migration;
using Confiture.Core.Verification;
using Confiture.Tests.Unit.Infrastructure;

namespace Confiture.Tests.Unit.Integration;

/// <summary>Keys at the ends of their type: the range arithmetic must hold over the whole type.</summary>
[Collection(ServerCollection.Name)]
public sealed class SyncKeyRangeTests(ServerFixture fixture)
{
    [Theory]
    [InlineData("bigint", "-9223372036854775808", "9223372036854775807")]
    [InlineData("integer", "-2147483648", "2147483647")]
    [InlineData("smallint", "-32768", "32767")]
    public async Task Keys_at_the_ends_of_their_type_are_found_and_synced(string type, string min, string max)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var table = $"CREATE TABLE ends (id {type} PRIMARY KEY, v text)";
        await Db.ExecAsync(s.SourceAdmin, $"{table}; INSERT INTO ends SELECT g, 'v' || g FROM generate_series(-500, 500) g; INSERT INTO ends VALUES ({min}, 'min'), ({max}, 'max')");
        await Db.ExecAsync(s.Databases.TargetMigrator, table);
        var migrator = s.Migrator();
        await migrator.MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "ends" });
        await Db.ExecAsync(s.SourceAdmin, $"UPDATE ends SET v = 'changed' WHERE id IN ({min}, {max}, 3)");

        var detailed = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "ends", Checksum = true, Detailed = true });
        var sync = await migrator.SyncTableAsync(new TableMigrationRequest { SourceTable = "ends" });
        var after = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "ends", Checksum = true, Detailed = true });

        Assert.False(detailed.ChecksumMatch);
        Assert.Equal([min, "3", max], detailed.Differences.Where(d => d.Kind == DifferenceKind.Changed).Select(d => d.Key).Order(Comparer<string>.Create((a, b) => long.Parse(a, System.Globalization.CultureInfo.InvariantCulture).CompareTo(long.Parse(b, System.Globalization.CultureInfo.InvariantCulture)))));
        Assert.Equal(3, sync.Sync!.RowsUpdated);
        Assert.True(after.Match);
        Assert.True(after.ChecksumMatch);
        Assert.Empty(after.Differences);
        Assert.Equal(["changed", "changed", "changed"], await Db.RowsAsync(s.TargetAdmin, $"SELECT v FROM ends WHERE id IN ({min}, {max}, 3)"));
    }

    [Fact]
    public async Task Only_the_two_extreme_bigint_keys_are_compared_and_synced()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        const string table = "CREATE TABLE ends (id bigint PRIMARY KEY, v text)";
        await Db.ExecAsync(s.SourceAdmin, $"{table}; INSERT INTO ends VALUES (-9223372036854775808, 'min'), (9223372036854775807, 'max')");
        await Db.ExecAsync(s.Databases.TargetMigrator, table);
        var migrator = s.Migrator();
        await migrator.MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "ends" });
        await Db.ExecAsync(s.SourceAdmin, "UPDATE ends SET v = 'new max' WHERE id = 9223372036854775807; DELETE FROM ends WHERE id < 0; INSERT INTO ends VALUES (-9223372036854775807, 'next')");

        var detailed = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "ends", Checksum = true, Detailed = true });
        var sync = await migrator.SyncTableAsync(new TableMigrationRequest { SourceTable = "ends" });

        Assert.Equal(3, detailed.Differences.Count);
        Assert.Equal(new SyncResult(1, 1, 1, sync.Sync!.RangesCompared), sync.Sync);
        Assert.Equal(["-9223372036854775807 | next", "9223372036854775807 | new max"], await Db.RowsAsync(s.TargetAdmin, "SELECT id, v FROM ends ORDER BY id"));
    }
}
