<#
    A source schema shaped like a real application's: besides its tables, a view with an unordered
    aggregate, a materialized view never refreshed, a partitioned table, and legacy
    DEFAULT nextval() sequences that no column owns, one of them shared by two tables. The session
    compares only tables, refuses the rest by name saying what they are, and after the load every
    table hands out fresh ids.
#>
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'A session over tables, views and partitions' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql @'
CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 40) g;
CREATE TABLE suppliers (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO suppliers SELECT g, 'supplier ' || g FROM generate_series(501, 530) g;
CREATE TABLE events (id bigint NOT NULL, at date NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO events SELECT g, date '2024-01-01' + g FROM generate_series(1, 600) g;
CREATE VIEW customer_names AS SELECT string_agg(name, ',') AS names FROM customers;
CREATE MATERIALIZED VIEW customer_count AS SELECT count(*) AS n FROM customers WITH NO DATA;
'@ | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql @'
CREATE SEQUENCE party_id_seq;
CREATE TABLE customers (id integer NOT NULL DEFAULT nextval('party_id_seq'::regclass) PRIMARY KEY, name text NOT NULL);
CREATE TABLE suppliers (id integer NOT NULL DEFAULT nextval('party_id_seq'::regclass) PRIMARY KEY, name text NOT NULL);
CREATE SEQUENCE events_id_seq;
CREATE TABLE events (id bigint NOT NULL DEFAULT nextval('events_id_seq'::regclass), at date NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
'@ | Out-Null
        $peer = Get-FdwAddressParameter $pair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql "GRANT SELECT ON ALL TABLES IN SCHEMA public TO $($pair.MigratorUser)" | Out-Null
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer
    }

    AfterAll {
        $migration | Remove-ConfitureFdw
        Remove-TestDatabasePair $pair
    }

    It 'imported the views with the tables, as postgres_fdw does' {
        $migration.Tables | Should -Contain 'customer_names'
        $migration.Tables | Should -Contain 'customer_count'
    }

    It 'advises a strategy for the tables only' {
        (Get-ConfitureStrategy -Migration $migration).Table | Should -Be @('customers', 'events', 'suppliers')
    }

    It 'shows the setval of a legacy nextval sequence with -WhatIf, over every table that shares it' {
        $text = (Get-HostOutput { Invoke-ConfitureTableMigration -Migration $migration -SourceTable customers -Strategy Fdw -WhatIf }).Text

        $text | Should -Match ([regex]::Escape("setval('""public"".""party_id_seq""'::regclass"))
        $text | Should -Match ([regex]::Escape('FROM "public"."suppliers"'))
    }

    It 'migrates every table of the session with <Strategy>, and each then hands out fresh ids' -TestCases @(
        @{ Strategy = 'Fdw' }
        @{ Strategy = 'Copy' }
    ) {
        foreach ($table in 'customers', 'suppliers', 'events') {
            Invoke-ConfitureTableMigration -Migration $migration -SourceTable $table -Strategy $Strategy -Truncate -Force | Out-Null
        }

        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql @'
INSERT INTO customers (name) VALUES ('new customer');
INSERT INTO suppliers (name) VALUES ('new supplier');
INSERT INTO events (at) VALUES ('2025-03-01');
'@ | Out-Null
        $customer = [int](Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT id FROM customers WHERE name = 'new customer'")
        $supplier = [int](Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT id FROM suppliers WHERE name = 'new supplier'")
        $customer | Should -BeGreaterThan 530 -Because 'customers and suppliers share one sequence, and suppliers already hold ids up to 530'
        $supplier | Should -BeGreaterThan $customer
        [int](Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT max(id) FROM events') | Should -BeGreaterThan 600
        Invoke-TestSql -Side Target -Database $pair.Database -Sql "DELETE FROM customers WHERE name = 'new customer'; DELETE FROM suppliers WHERE name = 'new supplier'; DELETE FROM events WHERE id > 600" | Out-Null
    }

    It 'migrates the tables only when a wildcard names them, as one run' {
        $results = @(Invoke-ConfitureTableMigration -Migration $migration -SourceTable * -Truncate -Force -ErrorVariable failures)

        $failures | Should -BeNullOrEmpty
        $results.SourceTable | Sort-Object | Should -Be @('customers', 'events', 'suppliers')
    }

    It 'compares only the tables when -Table is left out: -Quiet is $true after a correct migration' {
        (Test-ConfitureMigration -Migration $migration).SourceTable | Should -Be @('customers', 'events', 'suppliers')
        Test-ConfitureMigration -Migration $migration -Quiet | Should -BeTrue
        Test-ConfitureMigration -Migration $migration -Checksum -Quiet | Should -BeTrue
    }

    It 'refuses a view named to <Command> with Confiture.NotATable, saying it is a view' -TestCases @(
        @{ Command = 'Invoke-ConfitureTableMigration'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable customer_names -ErrorAction Stop } }
        @{ Command = 'Test-ConfitureMigration'; Call = { Test-ConfitureMigration -Migration $migration -Table customer_names -ErrorAction Stop } }
        @{ Command = 'Get-ConfitureStrategy'; Call = { Get-ConfitureStrategy -Migration $migration -Table customer_names -ErrorAction Stop } }
    ) {
        $failure = { & $Call } | Should -Throw -ErrorId 'Confiture.NotATable,*' -PassThru

        $failure.Exception.Message | Should -Match 'is a view'
        $failure.TargetObject | Should -Be 'customer_names'
        $failure.CategoryInfo.Category | Should -Be 'InvalidArgument'
    }

    It 'refuses the unpopulated materialized view by name, saying what it is' {
        $failure = { Test-ConfitureMigration -Migration $migration -Table customer_count -ErrorAction Stop } | Should -Throw -ErrorId 'Confiture.NotATable,*' -PassThru

        $failure.Exception.Message | Should -Match 'is a materialized view'
    }

    It 'refuses a partition named alone, naming its partitioned table' {
        $failure = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable events_2024 -Strategy Copy -ErrorAction Stop } | Should -Throw -ErrorId 'Confiture.NotATable,*' -PassThru

        $failure.Exception.Message | Should -Match ([regex]::Escape('is a partition of the partitioned table "public"."events"'))
        $failure.ErrorDetails.RecommendedAction | Should -Match '"events"'
    }
}
