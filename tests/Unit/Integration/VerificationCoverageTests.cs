using Confiture.Core.Migration;
using Confiture.Core.Verification;
using Confiture.Tests.Unit.Infrastructure;

namespace Confiture.Tests.Unit.Integration;

/// <summary>
/// A checksum compares exactly what the migration wrote, with the map it was migrated with, in the
/// same session or in a later process, and says what it did not compare.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class VerificationCoverageTests(ServerFixture fixture)
{
    private static readonly ColumnPair[] Rename = [new("id", "id"), new("full_name", "display_name"), new("email", "email")];

    private static async Task<Confiture.Core.SchemaToSchemaMigrator> MigratedAsync(Scenario s, MigrationStrategy strategy = MigrationStrategy.Copy)
    {
        await Db.ExecAsync(s.SourceAdmin,
            """
            CREATE TABLE users (id bigint PRIMARY KEY, full_name text NOT NULL, email text, legacy_flag boolean);
            INSERT INTO users SELECT g, 'User ' || g, 'u' || g || '@example.com', g % 2 = 0 FROM generate_series(1, 300) g;
            """);
        await Db.ExecAsync(s.Databases.TargetMigrator,
            "CREATE TABLE users (id bigint PRIMARY KEY, display_name text NOT NULL, email text, created_at timestamptz NOT NULL DEFAULT now())");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "users", ColumnMapping = Rename }, strategy);
        return migrator;
    }

    [Theory]
    [InlineData(MigrationStrategy.Fdw)]
    [InlineData(MigrationStrategy.Copy)]
    public async Task A_changed_renamed_column_is_found_with_the_session_map_and_no_mapping_given(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var migrator = await MigratedAsync(s, strategy);
        var clean = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "users", Checksum = true });
        await Db.ExecAsync(s.TargetAdmin, "UPDATE users SET display_name = 'Changed' WHERE id = 7");

        var result = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "users", Checksum = true, Detailed = true });

        Assert.True(clean.Match, clean.MismatchReason);
        Assert.Equal("session", clean.MapSource);
        Assert.False(result.Match);
        Assert.Equal(["id", "full_name -> display_name", "email"], result.ComparedColumns.Select(c => c.ToString()));
        Assert.Equal([new RowDifference("7", DifferenceKind.Changed)], result.Differences);
        Assert.Contains(result.NotCompared, c => c is { Side: "target", Column: "created_at" } && c.Reason.Contains("default", StringComparison.Ordinal));
        Assert.Contains(result.NotCompared, c => c is { Side: "source", Column: "legacy_flag" } && c.Reason.Contains("excluded", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_later_process_compares_with_the_map_recorded_on_the_target()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await MigratedAsync(s);
        await Db.ExecAsync(s.TargetAdmin, "UPDATE users SET display_name = 'Changed' WHERE id = 7");
        var later = s.Migrator();

        var result = await later.VerifyMigrationAsync(new VerificationRequest { SourceTable = "users", Checksum = true });

        Assert.Equal("target record", result.MapSource);
        Assert.False(result.Match);
        Assert.False(result.ChecksumMatch);
        Assert.Contains(result.ComparedColumns, c => c == new ColumnPair("full_name", "display_name"));
        Assert.Equal(1L, await Db.ScalarAsync<long>(s.TargetAdmin,
            "SELECT count(*) FROM confiture.table_map WHERE target_table = 'users' AND columns @> '[[\"full_name\", \"display_name\"]]' AND defaulted = '[\"created_at\"]' AND excluded = '[\"legacy_flag\"]' AND rows_written = 300"));
    }

    [Fact]
    public async Task A_mapping_that_leaves_out_a_written_column_cannot_say_Match()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var migrator = await MigratedAsync(s);

        var result = await migrator.VerifyMigrationAsync(new VerificationRequest
        {
            SourceTable = "users",
            ColumnMapping = [new("id", "id"), new("email", "email")],
            Checksum = true,
        });

        Assert.True(result.ChecksumMatch);
        Assert.False(result.Match);
        Assert.Contains("\"display_name\" was written from \"full_name\" but is not compared", result.MismatchReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_read_only_check_never_raises_a_write_time_error()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await MigratedAsync(s);
        var unrelated = s.Migrator();
        await Db.ExecAsync(s.TargetAdmin, "DROP SCHEMA confiture CASCADE");

        // No map known anywhere: same names only; display_name (NOT NULL, no default) is simply not compared.
        var result = await unrelated.VerifyMigrationAsync(new VerificationRequest { SourceTable = "users", Checksum = true });

        Assert.Equal("same names (no map recorded)", result.MapSource);
        Assert.Equal(["id", "email"], result.ComparedColumns.Select(c => c.ToString()));
        Assert.Contains(result.NotCompared, c => c is { Side: "target", Column: "display_name", Reason: "no source column maps to it" });
    }
}
