using Confiture.Core.Migration;
using Confiture.Core.Verification;
using Confiture.Tests.Unit.Infrastructure;

namespace Confiture.Tests.Unit.Integration;

/// <summary>A sync rewrites only what differs, in place: what the target's own keys and children rely on.</summary>
[Collection(ServerCollection.Name)]
public sealed class SyncInPlaceTests(ServerFixture fixture)
{
    private static readonly ColumnPair[] Mapping = [new("id", "id"), new("full_name", "display_name"), new("email", "email")];

    private static TableMigrationRequest Users => new() { SourceTable = "users", ColumnMapping = Mapping };

    /// <summary>Users on both sides, and on the target only, posts that reference them with the given delete rule.</summary>
    private static async Task<Confiture.Core.SchemaToSchemaMigrator> MigratedWithPostsAsync(Scenario s, string onDelete)
    {
        await Db.ExecAsync(s.SourceAdmin,
            """
            CREATE TABLE users (id bigint PRIMARY KEY, full_name text NOT NULL, email text);
            INSERT INTO users SELECT g, 'User ' || g, 'u' || g || '@example.org' FROM generate_series(1, 3000) g;
            """);
        await Db.ExecAsync(s.Databases.TargetMigrator,
            $"""
            CREATE TABLE users (id bigint PRIMARY KEY, display_name text NOT NULL, email text);
            CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users ON DELETE {onDelete}, title text);
            """);
        var migrator = s.Migrator();
        await migrator.MigrateTableCopyAsync(Users);
        await Db.ExecAsync(s.Databases.TargetMigrator, "INSERT INTO posts SELECT g, 7, 'Post ' || g FROM generate_series(1, 5) g");
        return migrator;
    }

    [Theory]
    [InlineData("CASCADE")]
    [InlineData("NO ACTION")]
    [InlineData("RESTRICT")]
    public async Task A_changed_parent_row_is_updated_in_place_and_keeps_its_children(string onDelete)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var migrator = await MigratedWithPostsAsync(s, onDelete);
        var untouched = await Db.RowsAsync(s.TargetAdmin, "SELECT id, xmin::text FROM users WHERE id <> 7 ORDER BY id");
        await Db.ExecAsync(s.SourceAdmin, "UPDATE users SET full_name = 'Renamed' WHERE id = 7; DELETE FROM users WHERE id = 2999; INSERT INTO users VALUES (5000, 'New', NULL)");

        var result = await migrator.SyncTableAsync(Users);

        Assert.Equal(new SyncResult(1, 1, 1, result.Sync!.RangesCompared), result.Sync);
        Assert.Equal(["Renamed"], await Db.RowsAsync(s.TargetAdmin, "SELECT display_name FROM users WHERE id = 7"));
        Assert.Equal(5L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM posts WHERE user_id = 7"));
        Assert.Equal(untouched.Where(r => !r.StartsWith("2999 ", StringComparison.Ordinal)),
            await Db.RowsAsync(s.TargetAdmin, "SELECT id, xmin::text FROM users WHERE id NOT IN (7, 5000) ORDER BY id"));
        Assert.True((await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "users", ColumnMapping = Mapping, Checksum = true })).Match);
    }

    [Fact]
    public async Task A_sync_of_an_unchanged_source_writes_nothing()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var migrator = await MigratedWithPostsAsync(s, "CASCADE");
        var before = await Db.RowsAsync(s.TargetAdmin, "SELECT id, xmin::text FROM users ORDER BY id");

        var ranges = await migrator.SyncTableAsync(Users);
        var changes = await migrator.SyncTableAsync(Users, changedSince: "email");
        var again = await migrator.SyncTableAsync(Users, changedSince: "email");

        Assert.Equal(0, ranges.Sync!.RowsChanged);
        Assert.Equal(0, changes.Sync!.RowsChanged);
        Assert.Equal(0, again.Sync!.RowsChanged);
        Assert.Equal(before, await Db.RowsAsync(s.TargetAdmin, "SELECT id, xmin::text FROM users ORDER BY id"));
    }

    [Fact]
    public async Task With_a_key_that_is_not_an_integer_only_the_differing_row_is_rewritten()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin,
            """
            CREATE TABLE tags (code text PRIMARY KEY, label text, weight numeric, payload json);
            INSERT INTO tags SELECT 'tag-' || g, 'Label ' || g, g / 7.0, json_build_object('g', g) FROM generate_series(1, 20000) g;
            """);
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE tags (code text PRIMARY KEY, label text, weight numeric, payload json)");
        var migrator = s.Migrator();
        await migrator.MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "tags" });
        var before = await Db.RowsAsync(s.TargetAdmin, "SELECT code, xmin::text FROM tags WHERE code <> 'tag-77' ORDER BY code");
        await Db.ExecAsync(s.SourceAdmin, "UPDATE tags SET payload = '{\"g\": 0}' WHERE code = 'tag-77'");

        var result = await migrator.SyncTableAsync(new TableMigrationRequest { SourceTable = "tags" });

        Assert.Equal(new SyncResult(0, 1, 0, result.Sync!.RangesCompared), result.Sync);
        Assert.Equal(before, await Db.RowsAsync(s.TargetAdmin, "SELECT code, xmin::text FROM tags WHERE code <> 'tag-77' ORDER BY code"));
        Assert.Equal(["{\"g\": 0}"], await Db.RowsAsync(s.TargetAdmin, "SELECT payload::text FROM tags WHERE code = 'tag-77'"));
    }

    [Fact]
    public async Task Counts_are_what_the_target_wrote_when_a_trigger_skips_rows()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var migrator = await MigratedWithPostsAsync(s, "CASCADE");
        await Db.ExecAsync(s.TargetAdmin,
            """
            CREATE FUNCTION keep_vip() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF OLD.id <= 10 THEN RETURN NULL; END IF; RETURN NEW; END $$;
            CREATE TRIGGER keep_vip BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION keep_vip();
            """);
        await Db.ExecAsync(s.SourceAdmin, "UPDATE users SET email = NULL WHERE id <= 20");

        var result = await migrator.SyncTableAsync(Users);

        Assert.Equal(10, result.Sync!.RowsUpdated);
        Assert.Equal(10L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM users WHERE email IS NULL"));
    }

    [Fact]
    public async Task A_sync_given_no_mapping_keeps_the_one_the_table_was_migrated_with()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var migrator = await MigratedWithPostsAsync(s, "CASCADE");
        await Db.ExecAsync(s.SourceAdmin, "UPDATE users SET full_name = 'Renamed' WHERE id = 8; INSERT INTO users VALUES (6000, 'Newcomer', NULL)");

        // Another process: it knows the table only from the target's record.
        var later = s.Migrator();
        var result = await later.SyncTableAsync(new TableMigrationRequest { SourceTable = "users" });

        Assert.Equal(new SyncResult(1, 1, 0, result.Sync!.RangesCompared), result.Sync);
        Assert.Equal(["8 | Renamed", "6000 | Newcomer"], await Db.RowsAsync(s.TargetAdmin, "SELECT id, display_name FROM users WHERE id IN (8, 6000) ORDER BY id"));
    }
}
