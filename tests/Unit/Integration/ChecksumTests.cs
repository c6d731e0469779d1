using Confiture.Core.Migration;
using Confiture.Core.Verification;
using Confiture.Tests.Unit.Infrastructure;

namespace Confiture.Tests.Unit.Integration;

[Collection(ServerCollection.Name)]
public sealed class ChecksumTests(ServerFixture fixture)
{
    public static TheoryData<MigrationStrategy> Strategies => [MigrationStrategy.Fdw, MigrationStrategy.Copy];

    private static readonly ColumnPair[] Mapping = [new("id", "id"), new("full_name", "display_name"), new("score", "score"), new("seen", "seen")];

    private static async Task<Confiture.Core.SchemaToSchemaMigrator> MigratedAsync(Scenario s, MigrationStrategy strategy)
    {
        await Db.ExecAsync(s.SourceAdmin,
            """
            CREATE TABLE people (id int PRIMARY KEY, full_name varchar(80), score numeric(12,4), seen timestamptz, dropped text);
            INSERT INTO people SELECT g, CASE WHEN g % 50 = 0 THEN NULL ELSE 'Person ' || g || ' ñ' END, g / 3.0, '2024-03-01 12:00+02'::timestamptz + g * interval '1 hour', 'x'
            FROM generate_series(1, 20000) g;
            """);
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE people (id bigint PRIMARY KEY, display_name text, score numeric, seen timestamptz)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "people", ColumnMapping = Mapping }, strategy);
        return migrator;
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task Digests_agree_through_renamed_widened_columns_after_either_strategy(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var migrator = await MigratedAsync(s, strategy);
        // A session with other display settings must not change the digest.
        await Db.ExecAsync(s.TargetAdmin, $"ALTER DATABASE \"{s.Databases.TargetDatabase}\" SET TimeZone = 'Asia/Kathmandu'; ALTER DATABASE \"{s.Databases.TargetDatabase}\" SET DateStyle = 'SQL, DMY'");

        var result = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "people", ColumnMapping = Mapping, Checksum = true, Detailed = true });

        Assert.True(result.Match);
        Assert.True(result.ChecksumMatch);
        Assert.NotNull(result.SourceChecksum);
        Assert.Equal(20000, result.TargetCount);
        Assert.Empty(result.Differences);
    }

    [Fact]
    public async Task A_changed_missing_or_extra_row_is_found_by_key()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var migrator = await MigratedAsync(s, MigrationStrategy.Copy);
        await Db.ExecAsync(s.TargetAdmin,
            "UPDATE people SET score = score + 0.0001 WHERE id = 4242; DELETE FROM people WHERE id IN (7, 19999); INSERT INTO people VALUES (50000, 'ghost', 0, now())");

        var counts = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "people", ColumnMapping = Mapping });
        var detailed = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "people", ColumnMapping = Mapping, Checksum = true, Detailed = true });

        Assert.False(counts.Match);
        Assert.Equal(-1, counts.Difference);
        Assert.False(detailed.ChecksumMatch);
        Assert.Equal(
            ["4242 Changed", "50000 Extra", "7 Missing", "19999 Missing"],
            detailed.Differences.Select(d => $"{d.Key} {d.Kind}").OrderBy(d => d.Split(' ')[1]).ThenBy(d => long.Parse(d.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public async Task Equal_counts_with_a_changed_value_fail_the_checksum_only()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var migrator = await MigratedAsync(s, MigrationStrategy.Fdw);
        await Db.ExecAsync(s.TargetAdmin, "UPDATE people SET display_name = 'Person 10 n' WHERE id = 10");

        var result = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "people", ColumnMapping = Mapping, Checksum = true });

        Assert.Equal(0, result.Difference);
        Assert.False(result.Match);
        Assert.NotEqual(result.SourceChecksum, result.TargetChecksum);
    }

    [Fact]
    public async Task Non_integer_keys_are_narrowed_by_hash_buckets_and_the_report_is_capped()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE tags (code text, region int, label text, PRIMARY KEY (code, region)); INSERT INTO tags SELECT 'c' || g, g % 3, 'L' || g FROM generate_series(1, 5000) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE tags (code text, region int, label text, PRIMARY KEY (code, region))");
        var migrator = s.Migrator();
        await migrator.MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "tags" });
        await Db.ExecAsync(s.TargetAdmin, "UPDATE tags SET label = 'changed' WHERE code IN ('c10', 'c20', 'c30', 'c40', 'c50')");

        var all = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "tags", Checksum = true, Detailed = true });
        var capped = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "tags", Checksum = true, Detailed = true, MaxDifferences = 2 });

        Assert.Equal(["(c10,1)", "(c20,2)", "(c30,0)", "(c40,1)", "(c50,2)"], all.Differences.Select(d => d.Key).Order(StringComparer.Ordinal));
        Assert.All(all.Differences, d => Assert.Equal(DifferenceKind.Changed, d.Kind));
        Assert.Equal(2, capped.Differences.Count);
    }
}
