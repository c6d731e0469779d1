using Confiture.Core;
using Confiture.Core.Migration;
using Confiture.Core.Run;
using Confiture.Tests.Unit.Infrastructure;

namespace Confiture.Tests.Unit.Integration;

/// <summary>Runs over several tables, and maps that let nothing go without a word.</summary>
[Collection(ServerCollection.Name)]
public sealed class RunTests(ServerFixture fixture)
{
    private const string Rentals =
        """
        CREATE TABLE customer (id int PRIMARY KEY, name text NOT NULL, legacy_points int);
        CREATE TABLE rental (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customer, return_date date);
        INSERT INTO customer SELECT g, 'c' || g, g FROM generate_series(1, 50) g;
        INSERT INTO rental SELECT g, 1 + g % 50, CASE WHEN g % 3 = 0 THEN '2024-01-01'::date + g END FROM generate_series(1, 200) g;
        """;

    [Fact]
    public async Task A_renamed_column_without_a_map_entry_stops_the_table_with_a_suggestion_before_any_write()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Rentals);
        await Db.ExecAsync(s.Databases.TargetMigrator,
            """
            CREATE TABLE customer (id int PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), tier text DEFAULT 'none');
            CREATE TABLE rental (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customer, returned_at date);
            """);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var renamed = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "rental" }, MigrationStrategy.Copy));
        var defaulted = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "customer" }, MigrationStrategy.Fdw));

        Assert.Equal(ConfitureErrorKind.ColumnNotMapped, renamed.Kind);
        Assert.Contains("source column \"return_date\" has no target column (did you mean \"returned_at\"?)", renamed.Message, StringComparison.Ordinal);
        Assert.Contains("Rename = @{ return_date = 'returned_at' }", renamed.RecommendedAction, StringComparison.Ordinal);
        Assert.Equal(ConfitureErrorKind.ColumnNotMapped, defaulted.Kind);
        Assert.Contains("\"legacy_points\"", defaulted.Message, StringComparison.Ordinal);
        Assert.Contains("target column \"created_at\" gets no value", defaulted.Message, StringComparison.Ordinal);
        Assert.Contains("target column \"tier\" gets no value", defaulted.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT (SELECT count(*) FROM customer) + (SELECT count(*) FROM rental)"));

        var map = new MigrationMap(new Dictionary<string, TableMap>
        {
            ["customer"] = new() { Exclude = ["legacy_points"], Default = ["created_at", "tier"] },
            ["rental"] = new() { Rename = new Dictionary<string, string> { ["return_date"] = "returned_at" } },
        });
        var plan = await migrator.PlanRunAsync(
            [new RunTable(new TableMigrationRequest { SourceTable = "rental", Map = map.For("rental") }, MigrationStrategy.Copy),
             new RunTable(new TableMigrationRequest { SourceTable = "customer", Map = map.For("customer") }, MigrationStrategy.Copy)]);
        Assert.Empty(plan.Failures);
        Assert.Equal([["customer"], ["rental"]], plan.Order);
        await using (var run = await migrator.StartRunAsync(plan))
        {
            for (var group = 0; group < plan.GroupCount; group++)
            {
                await run.MigrateGroupAsync(group);
            }
        }

        Assert.Equal(
            await Db.RowsAsync(s.SourceAdmin, "SELECT id, customer_id, return_date FROM rental ORDER BY id"),
            await Db.RowsAsync(s.TargetAdmin, "SELECT id, customer_id, returned_at FROM rental ORDER BY id"));
        Assert.Equal(50L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM customer WHERE tier = 'none'"));
    }

    [Fact]
    public async Task Tables_that_reference_each_other_load_in_one_transaction_with_their_keys_back_in_place()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        const string cycle =
            """
            CREATE TABLE staff (id int PRIMARY KEY, store_id int, boss_id int REFERENCES staff);
            CREATE TABLE store (id int PRIMARY KEY, manager_id int REFERENCES staff);
            ALTER TABLE staff ADD CONSTRAINT staff_store_fk FOREIGN KEY (store_id) REFERENCES store;
            """;
        await Db.ExecAsync(s.SourceAdmin, cycle +
            """
            INSERT INTO staff VALUES (1, NULL, NULL), (2, NULL, 1);
            INSERT INTO store VALUES (10, 1), (20, 2);
            UPDATE staff SET store_id = 10 + 10 * (id - 1);
            """);
        await Db.ExecAsync(s.Databases.TargetMigrator, cycle);
        var keysBefore = await Db.RowsAsync(s.TargetAdmin, "SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace ORDER BY 1");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var plan = await migrator.PlanRunAsync(
            [new RunTable(new TableMigrationRequest { SourceTable = "store" }, MigrationStrategy.Copy),
             new RunTable(new TableMigrationRequest { SourceTable = "staff" }, MigrationStrategy.Copy)]);
        Assert.Equal(1, plan.GroupCount);
        Assert.Contains(plan.Describe(), l => l.StartsWith("-- one transaction for the key cycle", StringComparison.Ordinal));
        await using (var run = await migrator.StartRunAsync(plan))
        {
            var results = await run.MigrateGroupAsync(0);
            Assert.Equal([2L, 2L], results.Select(r => r.RowsMigrated));
            Assert.NotNull(results[0].SourceSnapshotAt);
        }

        Assert.Equal(keysBefore, await Db.RowsAsync(s.TargetAdmin, "SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace ORDER BY 1"));
        Assert.Equal(["1 | 10", "2 | 20"], await Db.RowsAsync(s.TargetAdmin, "SELECT id, store_id FROM staff ORDER BY id"));
    }

    [Fact]
    public async Task Truncating_a_run_empties_its_tables_together_and_names_a_table_outside_it_that_references_them()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Rentals);
        await Db.ExecAsync(s.Databases.TargetMigrator,
            """
            CREATE TABLE customer (id int PRIMARY KEY, name text NOT NULL, legacy_points int);
            CREATE TABLE rental (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customer, return_date date);
            CREATE TABLE invoice (id int PRIMARY KEY, customer_id int REFERENCES customer);
            INSERT INTO customer VALUES (1, 'old', 0); INSERT INTO rental VALUES (1, 1, NULL);
            """);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        RunTable Table(string name) => new(new TableMigrationRequest { SourceTable = name, Truncate = true }, MigrationStrategy.Copy);

        var refused = await Assert.ThrowsAsync<ConfitureException>(() => migrator.PlanRunAsync([Table("customer"), Table("rental")]));
        Assert.Equal(ConfitureErrorKind.RunNotPossible, refused.Kind);
        Assert.Contains("public.invoice references it", refused.Message, StringComparison.Ordinal);
        Assert.Equal(1L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM customer"));

        await Db.ExecAsync(s.TargetAdmin, "DROP TABLE invoice");
        var plan = await migrator.PlanRunAsync([Table("rental"), Table("customer")]);
        Assert.Equal(["\"public\".\"rental\"", "\"public\".\"customer\""], plan.TruncateTogether);
        await using (var run = await migrator.StartRunAsync(plan))
        {
            for (var group = 0; group < plan.GroupCount; group++)
            {
                await run.MigrateGroupAsync(group);
            }
        }

        Assert.Equal(250L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT (SELECT count(*) FROM customer) + (SELECT count(*) FROM rental)"));
    }
}
