BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'Get-ConfitureStrategy parameters' -Tag UnitTests {
    It 'has every parameter the design documents' {
        $documented = @('CopyRowsPerSecond', 'CopyThreshold', 'FdwRowsPerSecond', 'Migration', 'Schema', 'Table')
        $documented | Where-Object { $_ -notin (Get-CommandParameterName Get-ConfitureStrategy) } | Should -BeNullOrEmpty -Because 'these documented parameters are missing'
    }

    It 'takes the session from the pipeline' {
        (Get-Command Get-ConfitureStrategy).Parameters['Migration'].Attributes.Where({ $_ -is [Parameter] }).ValueFromPipeline | Should -Contain $true
    }

    It 'defaults -CopyThreshold to ten million rows' {
        $cmdlet = [Confiture.PowerShell.Cmdlets.GetConfitureStrategyCommand]::new()
        $cmdlet.CopyThreshold | Should -Be 10000000
    }
}

Describe 'Get-ConfitureStrategy' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        # autovacuum_enabled = false: no background ANALYZE may turn an exact count into an estimate mid-test.
        Invoke-TestSql -Side Source -Database $pair.Database -Sql @'
CREATE TABLE big (id integer PRIMARY KEY, payload text) WITH (autovacuum_enabled = false);
INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 2000) g;
CREATE TABLE small (id integer PRIMARY KEY) WITH (autovacuum_enabled = false);
INSERT INTO small SELECT generate_series(1, 10);
CREATE TABLE analyzed (id integer PRIMARY KEY) WITH (autovacuum_enabled = false);
INSERT INTO analyzed SELECT generate_series(1, 2000);
ANALYZE analyzed;
INSERT INTO analyzed SELECT generate_series(2001, 2500);
CREATE SCHEMA archive;
CREATE TABLE archive.old_orders (id integer PRIMARY KEY) WITH (autovacuum_enabled = false);
INSERT INTO archive.old_orders SELECT generate_series(1, 3);
CREATE VIEW big_view AS SELECT * FROM big;
'@ | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer
        $plans = @($migration | Get-ConfitureStrategy -CopyThreshold 1000)
        $byTable = @{}
        foreach ($plan in $plans) { $byTable[$plan.Table] = $plan }
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'emits one strategy per table of the session''s source schema, and no views' {
        $plans | ForEach-Object { $_ | Should -BeOfType ([Confiture.PowerShell.Types.ConfitureStrategy]) }
        $plans.Table | Sort-Object | Should -Be @('analyzed', 'big', 'small')
        $plans.Schema | Select-Object -Unique | Should -Be 'public'
    }

    It 'advises Copy for a table at or above -CopyThreshold' {
        $byTable['big'].Strategy | Should -Be 'Copy'
    }

    It 'advises Fdw for a table below -CopyThreshold' {
        $byTable['small'].Strategy | Should -Be 'Fdw'
    }

    It 'counts a table that was never analyzed exactly' {
        $byTable['big'].RowCount | Should -Be 2000
        $byTable['big'].IsExact | Should -BeTrue
        $byTable['small'].RowCount | Should -Be 10
        $byTable['small'].IsExact | Should -BeTrue
    }

    It 'takes an analyzed table''s size from the statistics, without counting it' {
        # 2,500 rows now, but the statistics were taken at 2,000.
        $byTable['analyzed'].RowCount | Should -Be 2000
        $byTable['analyzed'].IsExact | Should -BeFalse
    }

    It 'estimates the time from the rows per second of the strategy it advises' {
        $estimates = @(Get-ConfitureStrategy -Migration $migration -Table big, small -CopyThreshold 1000 -CopyRowsPerSecond 1000 -FdwRowsPerSecond 5)
        ($estimates | Where-Object Table -EQ 'big').EstimatedSeconds | Should -Be 2
        ($estimates | Where-Object Table -EQ 'small').EstimatedSeconds | Should -Be 2
    }

    It 'advises Fdw for every table under the default threshold of ten million rows' {
        (Get-ConfitureStrategy -Migration $migration).Strategy | Select-Object -Unique | Should -Be 'Fdw'
    }

    It 'limits the advice to -Table' {
        $only = @(Get-ConfitureStrategy -Migration $migration -Table small)

        $only.Count | Should -Be 1
        $only[0].Table | Should -Be 'small'
    }

    It 'sizes the tables of another source schema with -Schema' {
        $archive = @(Get-ConfitureStrategy -Migration $migration -Schema archive)

        $archive.Count | Should -Be 1
        $archive[0].Table | Should -Be 'old_orders'
        $archive[0].Schema | Should -Be 'archive'
        $archive[0].RowCount | Should -Be 3
    }

    It 'refuses a -Schema that does not exist on the source (Confiture.SchemaNotFound) instead of advising nothing' {
        { Get-ConfitureStrategy -Migration $migration -Schema no_such_schema -ErrorAction Stop } | Should -Throw -ErrorId 'Confiture.SchemaNotFound,*'
    }

    It 'carries the session, so that its output pipes into Invoke-ConfitureTableMigration' {
        $plans | ForEach-Object { $_.Migration | Should -Be $migration }
    }

    It 'uses the last session when -Migration is left out' {
        (Get-ConfitureStrategy -Table small).Migration | Should -Be $migration
    }

    It 'reports an unknown table as a non-terminating Confiture.TableNotFound' {
        $result = Get-ConfitureStrategy -Migration $migration -Table no_such_table -ErrorVariable failures -ErrorAction SilentlyContinue

        $result | Should -BeNullOrEmpty
        $failures | Should -HaveCount 1
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'Confiture.TableNotFound,*'
        $failures[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'stops on an unknown table with -ErrorAction Stop' {
        { Get-ConfitureStrategy -Migration $migration -Table no_such_table -ErrorAction Stop } | Should -Throw -ErrorId 'Confiture.TableNotFound,*'
    }
}
