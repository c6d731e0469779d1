using Confiture.Core;
using Confiture.Core.Migration;
using Confiture.Core.Verification;
using Confiture.Tests.Unit.Infrastructure;

namespace Confiture.Tests.Unit.Integration;

/// <summary>
/// One conversion per column, the same on every path: Fdw and Copy store the same values for every
/// type pair, the checksum agrees with both, and a value that does not fit is an error, never a cut.
/// The two test servers run in different non-UTC zones and date styles.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ConversionRuleTests(ServerFixture fixture)
{
    public static TheoryData<MigrationStrategy> Strategies => [MigrationStrategy.Fdw, MigrationStrategy.Copy];

    /// <summary>Each pair: a source column type, a target column type, and source values that fit.</summary>
    private static readonly (string Name, string SourceType, string TargetType, string[] Values)[] Pairs =
    [
        ("int_to_bigint", "int", "bigint", ["-2147483648", "0", "2147483647"]),
        ("bigint_to_int", "bigint", "int", ["-5", "2147483647"]),
        ("numeric_to_scaled", "numeric", "numeric(12,2)", ["1.25", "-99999.5"]),
        ("float_to_numeric", "float8", "numeric", ["0.1", "1e-7"]),
        ("float_exact", "float8", "float8", ["0.1", "1.0000000000000002", "1e-300"]),
        ("real_to_float", "real", "float8", ["0.1", "3.4e38"]),
        ("varchar_to_text", "varchar(80)", "text", ["'héllo'", "''"]),
        ("text_to_varchar", "text", "varchar(10)", ["'abc'", "'0123456789'"]),
        ("text_to_char", "text", "char(3)", ["'ab'", "'abc'"]),
        ("char_to_text", "char(4)", "text", ["'ab'", "'abcd'"]),
        ("varbit_to_varbit", "varbit(8)", "varbit(4)", ["B'1010'", "B'1'"]),
        ("bit_to_varbit", "bit(4)", "varbit(8)", ["B'1010'", "B'0001'"]),
        ("ts_to_tstz", "timestamp", "timestamptz", ["'2024-03-10 02:30:00'", "'2024-11-03 01:30:00'", "'1999-12-31 23:59:59.999999'"]),
        ("tstz_to_ts", "timestamptz", "timestamp", ["'2024-03-10 02:30:00+00'", "'2024-07-01 12:00:00-07'"]),
        ("tstz_to_date", "timestamptz", "date", ["'2024-03-01 22:00:00+00'", "'2024-03-01 10:00:00+00'"]),
        ("date_to_tstz", "date", "timestamptz", ["'2024-03-01'", "'1970-01-01'"]),
        ("text_to_date", "text", "date", ["'2024-02-29'", "'1999-01-31'"]),
        ("tstz_to_text", "timestamptz", "text", ["'2024-03-01 22:00:00+00'"]),
        ("interval_to_text", "interval", "text", ["'1 day 02:03:04'", "'-3 mons'"]),
        ("json_to_jsonb", "json", "jsonb", ["'{\"b\": 1, \"a\": [true, null]}'"]),
        ("int_array_to_bigint_array", "int[]", "bigint[]", ["'{1,NULL,3}'", "'{}'"]),
        ("text_array_to_varchar_array", "text[]", "varchar(5)[]", ["'{\"a b\",c}'"]),
        ("enum_to_text", "mood", "text", ["'happy'", "'sad'"]),
        ("text_to_enum", "text", "feeling", ["'happy'", "'ok'"]),
        ("enum_to_other_enum", "mood", "feeling", ["'ok'"]),
        ("int_to_target_domain", "int", "cents", ["0", "5", "-7"]),
        ("domain_to_base", "positive", "bigint", ["1", "42"]),
        ("uuid", "uuid", "uuid", ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"]),
        ("bytea", "bytea", "bytea", ["'\\x00ff'::bytea"]),
        ("bool_to_text", "boolean", "text", ["true", "false"]),
    ];

    private static async Task ArrangeAsync(Scenario s)
    {
        var columns = string.Join(", ", Pairs.Select(p => $"{p.Name} {p.SourceType}"));
        var rows = Enumerable.Range(0, Pairs.Max(p => p.Values.Length)).Select(i =>
            $"({i + 1}, {string.Join(", ", Pairs.Select(p => i < p.Values.Length ? p.Values[i] : "NULL"))})");
        await Db.ExecAsync(s.SourceAdmin,
            $"""
            CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
            CREATE DOMAIN positive AS bigint CHECK (VALUE > 0);
            CREATE TABLE pairs (id int PRIMARY KEY, {columns});
            INSERT INTO pairs VALUES {string.Join(", ", rows)}, ({Pairs.Max(p => p.Values.Length) + 1}, {string.Join(", ", Pairs.Select(_ => "NULL"))});
            """);
        var targetColumns = string.Join(", ", Pairs.Select(p => $"{p.Name} {p.TargetType}"));
        await Db.ExecAsync(s.TargetAdmin,
            $"""
            CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
            CREATE TYPE feeling AS ENUM ('sad', 'ok', 'happy', 'elated');
            CREATE DOMAIN cents AS bigint CHECK (VALUE > -100);
            CREATE DOMAIN positive AS bigint CHECK (VALUE > 0);
            CREATE TABLE by_fdw (id int PRIMARY KEY, {targetColumns});
            CREATE TABLE by_copy (id int PRIMARY KEY, {targetColumns});
            GRANT ALL ON by_fdw, by_copy TO {Confiture.TestServers.TestRoles.MigratorUser};
            """);
    }

    /// <summary>The pairs migrated into by_fdw with Fdw and into by_copy with Copy, by one session.</summary>
    private static async Task<Confiture.Core.SchemaToSchemaMigrator> MigratedBothWaysAsync(Scenario s)
    {
        await ArrangeAsync(s);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "pairs", TargetTable = "by_fdw" }, MigrationStrategy.Fdw);
        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "pairs", TargetTable = "by_copy" }, MigrationStrategy.Copy);
        return migrator;
    }

    [Fact]
    public async Task Fdw_and_Copy_store_the_same_values_for_every_type_pair_and_the_checksum_agrees_with_both()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var migrator = await MigratedBothWaysAsync(s);

        var byFdw = await Db.RowsAsync(s.TargetAdmin, "SELECT t::text FROM by_fdw t ORDER BY id");
        var byCopy = await Db.RowsAsync(s.TargetAdmin, "SELECT t::text FROM by_copy t ORDER BY id");
        Assert.Equal(byFdw, byCopy);
        foreach (var table in new[] { "by_fdw", "by_copy" })
        {
            var result = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "pairs", TargetTable = table, Checksum = true, Detailed = true });
            Assert.True(result.Match, $"{table}: {result.MismatchReason}; differences: {string.Join(", ", result.Differences)}");
            Assert.Equal(Pairs.Length + 1, result.ComparedColumns.Count);
        }
    }

    [Fact]
    public async Task Times_convert_in_the_target_zone_whichever_server_converts()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        var migrator = await MigratedBothWaysAsync(s);

        foreach (var table in new[] { "by_fdw", "by_copy" })
        {
            // The target runs in Asia/Kolkata (+05:30), the source in America/New_York.
            Assert.True(await Db.ScalarAsync<bool>(s.TargetAdmin,
                $"""
                SELECT ts_to_tstz = '2024-03-10 02:30:00+05:30' AND tstz_to_date = '2024-03-02'
                       AND tstz_to_ts = '2024-03-10 08:00:00' AND date_to_tstz = '2024-03-01 00:00:00+05:30'
                FROM {table} WHERE id = 1
                """), table);
        }
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task A_value_too_long_for_its_target_column_is_an_error_and_nothing_is_written(MigrationStrategy strategy)
    {
        foreach (var (sourceType, targetType, value) in new[]
                 {
                     ("text", "varchar(5)", "'abcdefgh'"),
                     ("char(10)", "char(3)", "'abcdefghij'"),
                     ("varbit(8)", "varbit(4)", "B'10101010'"),
                     ("bigint", "int", "9999999999"),
                 })
        {
            await using var s = await Scenario.CreateAsync(fixture);
            await Db.ExecAsync(s.SourceAdmin, $"CREATE TABLE narrow (id int PRIMARY KEY, v {sourceType}); INSERT INTO narrow VALUES (1, NULL), (2, {value})");
            await Db.ExecAsync(s.Databases.TargetMigrator, $"CREATE TABLE narrow (id int PRIMARY KEY, v {targetType})");
            var migrator = s.Migrator();
            await migrator.SetupFdwAsync();

            var error = await Assert.ThrowsAsync<ConfitureException>(() =>
                migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "narrow" }, strategy));

            Assert.True(error.Kind is ConfitureErrorKind.ValueDoesNotFit, $"{sourceType} -> {targetType}: {error.Kind}: {error.Message}");
            Assert.Contains("\"v\"", error.Message, StringComparison.Ordinal);
            Assert.Contains("id = 2", error.Message, StringComparison.Ordinal);
            Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM narrow"));
        }
    }

    [Fact]
    public async Task A_domain_of_the_same_name_over_another_type_is_converted_not_reinterpreted()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE DOMAIN amount AS bigint; CREATE TABLE ledger (id int PRIMARY KEY, a amount, at timestamp); INSERT INTO ledger VALUES (1, 5, '2000-01-01'), (2, 0, NULL)");
        await Db.ExecAsync(s.TargetAdmin, $"CREATE DOMAIN amount AS double precision; CREATE TABLE ledger (id int PRIMARY KEY, a amount, at timestamp); GRANT ALL ON ledger TO {Confiture.TestServers.TestRoles.MigratorUser}");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        // The foreign table reads "amount" as the target's domain: not the source's values.
        var refused = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "ledger" }, MigrationStrategy.Fdw));
        Assert.Equal(ConfitureErrorKind.ForeignTableOutOfDate, refused.Kind);
        Assert.Contains("\"a\"", refused.Message, StringComparison.Ordinal);

        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "ledger" }, MigrationStrategy.Copy);

        Assert.Equal(["1 | 5", "2 | 0"], await Db.RowsAsync(s.TargetAdmin, "SELECT id, a FROM ledger ORDER BY id"));
        var verified = await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "ledger", Checksum = true });
        Assert.True(verified.Match, verified.MismatchReason);
    }

    [Fact]
    public async Task A_column_added_on_the_source_after_setup_is_never_left_null_by_Fdw()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'a')");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE items (id int PRIMARY KEY, name text, price numeric)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        await Db.ExecAsync(s.SourceAdmin, "ALTER TABLE items ADD COLUMN price numeric; UPDATE items SET price = 9.5");

        var refused = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "items" }, MigrationStrategy.Fdw));
        Assert.Equal(ConfitureErrorKind.ForeignTableOutOfDate, refused.Kind);
        Assert.Contains("\"price\" is missing", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM items"));

        await migrator.SetupFdwAsync();
        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "items" }, MigrationStrategy.Fdw);
        Assert.Equal(9.5m, await Db.ScalarAsync<decimal>(s.TargetAdmin, "SELECT price FROM items"));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task RowsMigrated_is_what_the_target_stored_when_a_trigger_skips_rows(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE events (id int PRIMARY KEY); INSERT INTO events SELECT generate_series(1, 1000)");
        await Db.ExecAsync(s.Databases.TargetMigrator,
            """
            CREATE TABLE events (id int PRIMARY KEY);
            CREATE FUNCTION skip_tenth() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id % 10 = 0 THEN RETURN NULL; END IF; RETURN NEW; END $$;
            CREATE TRIGGER skip_tenth BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION skip_tenth();
            """);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var result = await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "events" }, strategy);

        Assert.Equal(900, result.RowsMigrated);
        Assert.Equal(900L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM events"));
        Assert.False((await migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "events" })).Match);
    }
}
