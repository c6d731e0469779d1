<#
    Runs of a whole database with tables in parallel and resumed after a kill, against the real
    servers: -ThrottleLimit 2 under live writes on the source ends in one consistent cut of it; a
    child PowerShell killed mid-run leaves its committed tables in the ledger, and -Resume completes
    the run without copying any of them again.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Hostile.Helpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
    $fixtures = Join-Path $PSScriptRoot '../Fixtures/shop'
    $mapPath = Join-Path $fixtures 'shop.map.psd1'

    function New-ShopPair {
        <# The shop's old schema with its data on the source, its new schema, empty, on the target. #>
        param([string] $ExtraSql = '')
        $pair = New-TestDatabasePair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql ((Get-Content -Raw (Join-Path $fixtures 'source.sql')) + "`n$ExtraSql`nGRANT SELECT ON ALL TABLES IN SCHEMA public TO $($pair.MigratorUser);") | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql (Get-Content -Raw (Join-Path $fixtures 'target.sql')) | Out-Null
        $pair
    }
}

Describe 'Invoke-ConfitureTableMigration -ThrottleLimit' -Tag UnitTests {
    It 'accepts 1 to 64 tables at once and refuses <_>' -ForEach 0, 65 {
        { Invoke-ConfitureTableMigration -SourceTable x -ThrottleLimit $_ } | Should -Throw -ErrorId 'ParameterArgumentValidationError,*'
    }

    It 'documents its default in the help' {
        $help = Get-Help Invoke-ConfitureTableMigration -Parameter ThrottleLimit
        $help.description.Text -join ' ' | Should -Match 'fewer than 4\s+cores'
        $help.defaultValue | Should -Be '1 below 4 cores, else half the cores (at most 4)'
    }
}

Describe 'A whole database two tables at a time while the application writes' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-ShopPair
        $peer = Get-FdwAddressParameter $pair
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer
    }

    AfterAll {
        $migration | Remove-ConfitureFdw -ErrorAction SilentlyContinue
        Remove-TestDatabasePair $pair
    }

    It 'ends with every foreign key valid and every table one cut of the source' {
        # A new customer with a rental and a payment of it, one transaction each, one after another.
        $writer = Start-TestSqlSession -Side Source -Database $pair.Database -Sql @'
WITH c AS (INSERT INTO customer (store_id, first_name, last_name, address_id) VALUES (1, 'Live', 'Writer', 1) RETURNING id),
     r AS (INSERT INTO rental (rental_date, inventory_id, customer_id, staff_id) SELECT now(), 1, id, 1 FROM c RETURNING id, customer_id)
INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date) SELECT customer_id, 1, id, 1, '2025-03-01 00:00+00' FROM r
\watch 0.005
'@
        try {
            Wait-TestCondition -Because 'the writer has started' { [int](Get-TestSqlValue -Side Source -Database $pair.Database -Sql "SELECT count(*) FROM customer WHERE first_name = 'Live'") -gt 5 }
            $results = @('*' | Invoke-ConfitureTableMigration -Migration $migration -Map $mapPath -ThrottleLimit 2 -ErrorAction Stop)
            Wait-TestCondition -Because 'the writer went on after the run' { [int](Get-TestSqlValue -Side Source -Database $pair.Database -Sql "SELECT count(*) FROM customer WHERE first_name = 'Live'") -gt ([int](Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM customer WHERE first_name = 'Live'") + 5) }
        }
        finally {
            $writer.Kill()
            $writer.Dispose()
        }

        $results.Count | Should -Be 19
        @($results.RunId | Sort-Object -Unique).Count | Should -Be 1
        @($results.SourceSnapshotAt | Sort-Object -Unique).Count | Should -Be 1
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT state || ' ' || table_count FROM confiture.run WHERE run_id = '$($results[0].RunId)'" | Should -Be 'completed 19'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM confiture.run_table WHERE run_id = '$($results[0].RunId)'" | Should -Be '19'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace AND NOT convalidated" | Should -Be '0'

        # One writer commits one customer after another, so one cut of the source holds exactly the
        # live customers up to some id, each with its rental and payment, and nothing after it.
        $last = Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT coalesce(max(id), 0) FROM customer WHERE first_name = 'Live'"
        $cut = @{
            customer = "SELECT id FROM customer WHERE first_name = 'Live' AND id <= $last ORDER BY 1"
            rental   = "SELECT r.id FROM rental r JOIN customer c ON c.id = r.customer_id WHERE c.first_name = 'Live' AND c.id <= $last ORDER BY 1"
            payment  = "SELECT p.id FROM payment p JOIN customer c ON c.id = p.customer_id WHERE c.first_name = 'Live' AND c.id <= $last ORDER BY 1"
        }
        foreach ($table in $cut.Keys) {
            $onTarget = Get-TestSqlText -Side Target -Database $pair.Database -Sql ($cut[$table] -replace ' AND (c\.)?id <= \d+', '')
            $onTarget | Should -Be (Get-TestSqlText -Side Source -Database $pair.Database -Sql $cut[$table]) -Because "$table holds the source's rows as of the one snapshot"
        }
        Get-TestSqlValue -Side Source -Database $pair.Database -Sql "SELECT count(*) FROM customer WHERE first_name = 'Live' AND id > $last" | Should -BeGreaterThan 0 -Because 'rows written after the snapshot are on the source only'
    }
    It 'shows one progress bar for the run, with a bar per table beneath it' {
        $state = [initialsessionstate]::CreateDefault2()
        $state.ImportPSModule([string[]]@(Get-ModuleManifestPath))
        $shell = [powershell]::Create($state)
        try {
            $null = $shell.AddCommand('Invoke-ConfitureTableMigration').AddParameters(@{
                Migration = $migration; SourceTable = '*'; Map = $mapPath; ThrottleLimit = 2; Truncate = $true; Force = $true; ErrorAction = 'Stop' })
            $results = @($shell.Invoke())
            $progress = @($shell.Streams.Progress)
        }
        finally {
            $shell.Dispose()
        }

        $results.Count | Should -Be 19
        $run = @($progress | Where-Object Activity -EQ 'Migrating 19 tables')
        $run.Count | Should -BeGreaterThan 19 -Because 'the run''s bar moves as each table reports and commits'
        $run | Where-Object { $_.RecordType -eq 'Processing' } | ForEach-Object StatusDescription | Should -Match '^\d+ of 19 tables, [\d,.]+ rows, [\d,.]+ rows/s$'
        $run[-1].RecordType | Should -Be 'Completed'
        ($run | Where-Object RecordType -EQ 'Processing')[-1].StatusDescription | Should -BeLike '19 of 19 tables*'
        $tables = @($progress | Where-Object { $_.ParentActivityId -eq $run[0].ActivityId })
        @($tables.Activity | Sort-Object -Unique).Count | Should -Be 19 -Because 'each table has its own bar under the run''s'
        @($tables | Where-Object RecordType -EQ 'Completed').Count | Should -Be 19
    }
}

# With -DeferIndexes the keys among the run's tables are dropped when it starts: the kill leaves
# them listed, the next call puts them back (NOT VALID where a committed child's parent had not
# loaded yet), and the resumed run validates them at its end. A partitioned table cannot defer its
# indexes, so that run leaves the shop's one (payment) out.
Describe 'A run killed mid-way, then -Resume<Title>' -Tag IntegrationTests -ForEach @(
    @{ Title = ''; Defer = $false }
    @{ Title = ', with -DeferIndexes'; Defer = $true }
) {
    BeforeAll {
        # A large table in the middle of the load order (its name sorts between the shop's), so the
        # kill comes after some tables committed and before others started.
        $bulkRows = 1500000
        $bulk = "CREATE TABLE m_bulk (id integer PRIMARY KEY, v integer); INSERT INTO m_bulk SELECT g, g FROM generate_series(1, $bulkRows) g; ANALYZE m_bulk;"
        $pair = New-ShopPair -ExtraSql $bulk
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql 'CREATE TABLE m_bulk (id integer PRIMARY KEY, v integer);' | Out-Null

        $session = @{ Migration = $null }
        $childScript = Join-Path ([IO.Path]::GetTempPath()) ('confiture-resume-' + [Guid]::NewGuid().ToString('N') + '.ps1')
        Set-Content -Path $childScript -Value @"
param([string] `$Database, [string] `$MapPath, [string] `$Defer)
`$ErrorActionPreference = 'Stop'
Import-Module '$((Join-Path $PSScriptRoot 'TestHelpers.psm1').Replace("'", "''"))'
Import-Module (Get-ModuleManifestPath)
`$user = `$env:CONFITURE_TEST_MIGRATOR_USER
`$password = `$env:CONFITURE_TEST_MIGRATOR_PASSWORD
`$source = Connect-ConfitureDatabase (New-ConnectionString -Server (Get-TestServer Source) -Database `$Database -Username `$user -Password `$password)
`$target = Connect-ConfitureDatabase (New-ConnectionString -Server (Get-TestServer Target) -Database `$Database -Username `$user -Password `$password)
`$peer = Get-FdwAddressParameter ([pscustomobject]@{ SourceHostForTarget = `$env:CONFITURE_TEST_SOURCE_HOST_FOR_TARGET; SourcePortForTarget = `$env:CONFITURE_TEST_SOURCE_PORT_FOR_TARGET })
`$migration = Enable-ConfitureFdw -Source `$source -Target `$target @peer
# -DeferIndexes refuses the partitioned payment (that table's error), and the run goes on without it.
'*' | Invoke-ConfitureTableMigration -Migration `$migration -Map `$MapPath -Strategy Copy -ThrottleLimit 1 -DeferIndexes:(`$Defer -eq '1') -ErrorAction Continue | ForEach-Object { "MIGRATED `$(`$_.SourceTable)" }
"@
    }

    AfterAll {
        if ($childScript) { Remove-Item -Path $childScript -ErrorAction SilentlyContinue }
        if ($session.Migration) { $session.Migration | Remove-ConfitureFdw -ErrorAction SilentlyContinue }
        Remove-TestDatabasePair $pair
    }

    It 'completes the killed run with -Resume: every table matches its source by checksum and none is copied twice' {
        $child = Start-ChildPwsh -Path $childScript -ArgumentList $pair.Database, $mapPath, ([int]$Defer)
        $expected = if ($Defer) { 19 } else { 20 }
        try {
            Wait-TestCondition -TimeoutSeconds 120 -Because 'the child is loading the large table' {
                $child.HasExited -or [int](Get-TestSqlValue -Side Target -Database postgres -Sql "SELECT count(*) FROM pg_stat_activity WHERE datname = $(ConvertTo-SqlLiteral $pair.Database) AND state = 'active' AND query LIKE 'COPY %m_bulk%'") -gt 0
            }
            $child.HasExited | Should -BeFalse -Because "the child must be killed mid-run (it ended with: $(if ($child.HasExited) { $child.StandardOutput.ReadToEnd() + $child.StandardError.ReadToEnd() }))"
            $child.Kill()
            $child.WaitForExit(30000) | Should -BeTrue
        }
        finally {
            if (-not $child.HasExited) { $child.Kill() }
            $child.Dispose()
        }
        Wait-TestCondition -TimeoutSeconds 60 -Because 'the server ended the killed load''s transaction' {
            [int](Get-TestSqlValue -Side Target -Database postgres -Sql "SELECT count(*) FROM pg_stat_activity WHERE datname = $(ConvertTo-SqlLiteral $pair.Database) AND application_name = 'Confiture'") -eq 0
        }

        # The ledger: one run left 'running' by its dead process, the tables it committed, the large one not among them.
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT state FROM confiture.run' | Should -Be 'running'
        $committed = Get-TestSqlText -Side Target -Database $pair.Database -Sql "SELECT target_table || ' ' || committed_at FROM confiture.run_table ORDER BY 1"
        $committedTables = @(Get-TestSqlText -Side Target -Database $pair.Database -Sql 'SELECT target_table FROM confiture.run_table ORDER BY 1') -split "`n"
        $committedTables.Count | Should -BeGreaterThan 3
        $committedTables | Should -Not -Contain 'm_bulk'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM m_bulk' | Should -Be '0'

        if ($Defer) {
            Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM confiture.run_key WHERE state = 'dropped'" | Should -BeGreaterThan 0 -Because 'the kill left the keys of the tables not yet loaded dropped and listed'
        }

        $peer = Get-FdwAddressParameter $pair
        $migration = $session.Migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer -WarningVariable repaired -WarningAction SilentlyContinue
        (Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM confiture.run') | Should -Be '1'
        if ($Defer) {
            # The next call put every key back: valid where both tables were loaded or empty, NOT VALID where a committed child's parent was not loaded yet.
            $repaired -join ' ' | Should -BeLike '*Added back * foreign key(s) that an interrupted -DeferIndexes run*'
            Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM confiture.run_key WHERE state = 'dropped'" | Should -Be '0'
            Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM confiture.run_key r WHERE NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = to_regclass(r.owner_table) AND c.conname = r.name AND NOT c.convalidated)" | Should -Be '0' -Because 'a key still listed stands NOT VALID'
        }

        # Another map for a table the run committed: refused, naming it, nothing written.
        $changed = Import-PowerShellDataFile $mapPath
        $changed['address'] = @{ Exclude = 'postal_code'; Default = 'postal_code' }
        { '*' | Invoke-ConfitureTableMigration -Migration $migration -Map $changed -Strategy Copy -Resume -DeferIndexes:$Defer -ErrorAction SilentlyContinue } |
            Should -Throw -ErrorId 'Confiture.ResumeNotPossible,*' -ExpectedMessage '*"public"."address" was committed by run*another map*'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM m_bulk' | Should -Be '0'

        $results = @('*' | Invoke-ConfitureTableMigration -Migration $migration -Map $mapPath -Strategy Copy -Resume -DeferIndexes:$Defer -WarningVariable warnings -WarningAction SilentlyContinue -ErrorAction SilentlyContinue -ErrorVariable failures)
        @($failures | ForEach-Object { "$($_.TargetObject)" }) | Should -Be @(if ($Defer) { 'payment' }) -Because 'only the partitioned table is refused, and only with -DeferIndexes'

        $results.Count | Should -Be $expected
        @($results | Where-Object Mode -EQ 'Resumed').TargetTable | Sort-Object | Should -Be ($committedTables | Sort-Object)
        ($results | Where-Object SourceTable -EQ 'm_bulk').Mode | Should -Be 'Migrate'
        ($results | Where-Object SourceTable -EQ 'm_bulk').RowsMigrated | Should -Be $bulkRows
        $warnings -join ' ' | Should -BeLike '*Resuming run*new snapshot*-Sync*'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT state FROM confiture.run' | Should -Be 'completed'
        # No table copied twice: what committed before the kill kept its ledger row, commit time included.
        $after = Get-TestSqlText -Side Target -Database $pair.Database -Sql "SELECT target_table || ' ' || committed_at FROM confiture.run_table WHERE target_table IN ($(($committedTables | ForEach-Object { ConvertTo-SqlLiteral $_ }) -join ', ')) ORDER BY 1"
        $after | Should -Be $committed
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM confiture.run_table' | Should -Be "$expected"
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace AND NOT convalidated" | Should -Be '0'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM confiture.run_key' | Should -Be '0'

        $verifications = @($migration | Test-ConfitureMigration -Table $results.SourceTable -Checksum)
        $verifications.Count | Should -Be $expected
        $verifications | Where-Object { -not $_.Match } | ForEach-Object { "$($_.SourceTable): $($_.MismatchReason)" } | Should -BeNullOrEmpty
    }

    It 'forgets the session''s runs when the session is removed, unless -KeepRecord' {
        $session.Migration | Remove-ConfitureFdw -KeepRecord
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM confiture.run' | Should -Be '1'
        $peer = Get-FdwAddressParameter $pair
        $session.Migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer
        $session.Migration | Remove-ConfitureFdw
        $session.Migration = $null
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM pg_namespace WHERE nspname = 'confiture'" | Should -Be '0'
    }
}

Describe 'A failed run resumed with -Sync' -Tag IntegrationTests {
    BeforeAll {
        $schema = @'
CREATE TABLE note (id int PRIMARY KEY, body text);
CREATE TABLE region (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE shop (id int PRIMARY KEY, region_id int NOT NULL REFERENCES region);
'@
        $pair = New-TestDatabasePair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql ($schema + @"
INSERT INTO note SELECT g, 'n' || g FROM generate_series(1, 30) g;
INSERT INTO region SELECT g, 'r' || g FROM generate_series(1, 10) g;
INSERT INTO shop SELECT g, 1 + g % 10 FROM generate_series(1, 200) g;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO $($pair.MigratorUser);
"@) | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql ($schema + 'ALTER TABLE region ADD CONSTRAINT few CHECK (id < 5);') | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer
        $tables = 'note', 'region', 'shop'
    }

    AfterAll {
        $migration | Remove-ConfitureFdw -ErrorAction SilentlyContinue
        Remove-TestDatabasePair $pair
    }

    It 'skips what the run committed, migrates the rest, then brings the skipped tables up to date with the source' {
        $first = @($tables | Invoke-ConfitureTableMigration -Migration $migration -ThrottleLimit 2 -ErrorAction SilentlyContinue -ErrorVariable failures)
        $first.SourceTable | Should -Be 'note'
        $failures.Count | Should -Be 2
        ($failures | Where-Object { $_.TargetObject -eq 'shop' }).Exception.Message | Should -Be 'shop not migrated: it references region, which failed in this run.'

        # The source moves on after the first snapshot; the target's check is fixed.
        Invoke-TestSql -Side Source -Database $pair.Database -Sql "INSERT INTO note VALUES (31, 'late'); UPDATE note SET body = 'changed' WHERE id = 1;" | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -Sql 'ALTER TABLE region DROP CONSTRAINT few' | Out-Null

        $results = @($tables | Invoke-ConfitureTableMigration -Migration $migration -ThrottleLimit 2 -Resume -Sync -WarningVariable warnings -WarningAction SilentlyContinue -ErrorAction Stop)

        ($results | Where-Object Mode -EQ 'Resumed').SourceTable | Should -Be 'note'
        ($results | Where-Object Mode -EQ 'Resumed').RowsMigrated | Should -Be 30
        ($results | Where-Object Mode -EQ 'Resumed').RowsInserted | Should -Be 0 -Because 'the run it continues wrote them'
        @($results | Where-Object Mode -EQ 'Migrate').SourceTable | Sort-Object | Should -Be 'region', 'shop'
        $sync = $results | Where-Object Mode -EQ 'Sync'
        $sync.SourceTable | Should -Be 'note'
        $sync.RowsInserted | Should -Be 1
        $sync.RowsUpdated | Should -Be 1
        $warnings -join ' ' | Should -BeLike '*note were committed from the source as of*'
        $migration | Test-ConfitureMigration -Table $tables -Checksum -Quiet | Should -BeTrue
    }
}
