<#
    Faults, against the real servers: the process killed in the middle of a load, Ctrl+C (a stopped
    pipeline) in the middle of a load, and rows written to the source during a load. A load is one
    target transaction: whatever happens to the client, the target ends as it was before the call
    (a fingerprint of both databases proves it) or with exactly the rows of the source's snapshot.
    A source server vanishing and backends terminated are covered by the engine's xunit suite.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Hostile.Helpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    # Narrow rows, enough of them that a load takes a couple of seconds: the window to kill or stop it in.
    $bigRows = 2000000
    $liveRows = 1500000
    $pair = New-TestDatabasePair
    Invoke-TestSql -Side Source -Database $pair.Database -Sql @"
CREATE TABLE big (id integer, v integer);
INSERT INTO big SELECT g, g FROM generate_series(1, $bigRows) g;
CREATE TABLE live (id integer PRIMARY KEY, v integer);
INSERT INTO live SELECT g, g FROM generate_series(1, $liveRows) g;
ANALYZE big; ANALYZE live;
"@ | Out-Null
    Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql @'
CREATE TABLE big (id integer, v integer);
CREATE TABLE live (id integer PRIMARY KEY, v integer);
'@ | Out-Null
    $peer = Get-FdwAddressParameter $pair
    $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer

    function Reset-Target {
        <# The target's big table as each fault test starts: three rows of its own, which must survive. #>
        Invoke-TestSql -Side Target -Database $pair.Database -Sql 'TRUNCATE big; INSERT INTO big VALUES (-1, -1), (-2, -2), (-3, -3); TRUNCATE live' | Out-Null
    }

    function Wait-LoadOver {
        <# Waits until no Confiture session on the target is inside a transaction: the killed or stopped load is rolled back. #>
        Wait-TestCondition { -not (Test-MigrationInProgress $pair) } -Because 'the server ended the interrupted load''s transaction' -TimeoutSeconds 60
    }

    function New-MigrationShell {
        <# A PowerShell instance in this process, in its own runspace with the module imported, that runs one migration of the session. #>
        param([Parameter(Mandatory)][hashtable] $Parameters)
        $state = [initialsessionstate]::CreateDefault2()
        $state.ImportPSModule([string[]]@(Get-ModuleManifestPath))
        $shell = [powershell]::Create($state)
        $null = $shell.AddCommand('Invoke-ConfitureTableMigration').AddParameter('Migration', $migration).AddParameters($Parameters)
        $shell
    }

    # The call a killed process makes, and makes again in a fresh process: connect, set up (taking
    # over the objects already there), and migrate one table.
    $childScript = Join-Path ([IO.Path]::GetTempPath()) ('confiture-fault-' + [Guid]::NewGuid().ToString('N') + '.ps1')
    Set-Content -Path $childScript -Value @"
param([string] `$Database, [string] `$Table, [string] `$Strategy, [string] `$Mode, [string] `$TakeOver)
`$ErrorActionPreference = 'Stop'
Import-Module '$((Join-Path $PSScriptRoot 'TestHelpers.psm1').Replace("'", "''"))'
Import-Module (Get-ModuleManifestPath)
`$user = `$env:CONFITURE_TEST_MIGRATOR_USER
`$password = `$env:CONFITURE_TEST_MIGRATOR_PASSWORD
`$source = Connect-ConfitureDatabase (New-ConnectionString -Server (Get-TestServer Source) -Database `$Database -Username `$user -Password `$password)
`$target = Connect-ConfitureDatabase (New-ConnectionString -Server (Get-TestServer Target) -Database `$Database -Username `$user -Password `$password)
`$peer = Get-FdwAddressParameter ([pscustomobject]@{ SourceHostForTarget = `$env:CONFITURE_TEST_SOURCE_HOST_FOR_TARGET; SourcePortForTarget = `$env:CONFITURE_TEST_SOURCE_PORT_FOR_TARGET })
`$migration = Enable-ConfitureFdw -Source `$source -Target `$target @peer -Force:(`$TakeOver -eq 'TakeOver')
`$how = if (`$Mode -eq 'Append') { @{ Append = `$true } } else { @{ Truncate = `$true; Force = `$true } }
`$result = Invoke-ConfitureTableMigration -Migration `$migration -SourceTable `$Table -Strategy `$Strategy @how
"MIGRATED `$(`$result.RowsMigrated)"
"@
}

AfterAll {
    if ($childScript) { Remove-Item -Path $childScript -ErrorAction SilentlyContinue }
    if ($migration) { $migration | Remove-ConfitureFdw -ErrorAction Continue }
    if ($pair) { Remove-TestDatabasePair $pair }
}

Describe 'The process killed in the middle of a load' -Tag IntegrationTests {
    It 'leaves the target as it was when killed during a <Strategy> load with -<Mode>, and the same call then succeeds in a new process' -ForEach @(
        @{ Strategy = 'Copy'; Mode = 'Append' }
        @{ Strategy = 'Fdw'; Mode = 'Truncate' }
    ) {
        Reset-Target
        $before = Get-DatabaseFingerprint -Pair $pair

        # This process's own session is live, so the first child takes it over as -Force says; the
        # killed child's session is then dead, and the fresh process takes it over without -Force.
        $child = Start-ChildPwsh -Path $childScript -ArgumentList $pair.Database, 'big', $Strategy, $Mode, 'TakeOver'
        try {
            Wait-TestCondition { $child.HasExited -or (Test-MigrationRunning $pair) } -Because 'the child process is loading the rows' -TimeoutSeconds 90
            $child.HasExited | Should -BeFalse -Because "the child must be killed mid-load (it ended with: $(if ($child.HasExited) { $child.StandardOutput.ReadToEnd() + $child.StandardError.ReadToEnd() }))"
            $child.Kill()
            $child.WaitForExit(30000) | Should -BeTrue
        }
        finally {
            if (-not $child.HasExited) { $child.Kill() }
            $child.Dispose()
        }
        Wait-LoadOver

        # The child's setup committed before its load: its record names the child's session.
        $setupRecord = "*$(ConvertTo-FingerprintName -Schema confiture -Name setup)*"
        Assert-DatabaseUnchanged -Pair $pair -Before $before -Allow $setupRecord -Because 'the killed load''s transaction was never committed'
        Get-TestSqlText -Side Target -Database $pair.Database -Sql 'SELECT id FROM big ORDER BY id' | Should -Be "-3`n-2`n-1"

        $output = @(Invoke-ChildPwsh -Path $childScript -ArgumentList $pair.Database, 'big', $Strategy, $Mode)

        $output | Should -Contain "MIGRATED $bigRows"
        $expected = if ($Mode -eq 'Append') { $bigRows + 3 } else { $bigRows }
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM big' | Should -Be "$expected"
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM big WHERE id > 0 AND id = v' | Should -Be "$bigRows"
    }
}

Describe 'Ctrl+C in the middle of a load' -Tag IntegrationTests {
    It 'stops a <_> load within about two seconds, and the target is rolled back' -ForEach 'Copy', 'Fdw' {
        Reset-Target
        $before = Get-DatabaseFingerprint -Pair $pair
        $shell = New-MigrationShell -Parameters @{ SourceTable = 'big'; Strategy = $_; Truncate = $true; Force = $true }
        try {
            $running = $shell.BeginInvoke()
            Wait-TestCondition { $running.IsCompleted -or (Test-MigrationRunning $pair) } -Because 'the load is running' -TimeoutSeconds 60
            # (Not $shell.Streams.Error here: enumerating it waits until the pipeline ends.)
            $running.IsCompleted | Should -BeFalse -Because 'the load must be stopped mid-way'
            $clock = [System.Diagnostics.Stopwatch]::StartNew()
            $shell.Stop()
            $clock.Stop()

            $clock.Elapsed.TotalSeconds | Should -BeLessThan 2.5 -Because 'Ctrl+C cancels the statements on the servers, it does not wait for the load to end'
            $shell.InvocationStateInfo.State | Should -Be 'Stopped'
            $shell.InvocationStateInfo.Reason | Should -BeOfType ([System.Management.Automation.PipelineStoppedException])
        }
        finally {
            $shell.Dispose()
        }
        # The statement was cancelled on the server too: the target's session leaves its transaction at once, not when the load would have ended.
        Wait-TestCondition { -not (Test-MigrationInProgress $pair) } -Because 'the cancel reached the target server' -TimeoutSeconds 5

        Assert-DatabaseUnchanged -Pair $pair -Before $before -Because 'the stopped load''s transaction was rolled back, its TRUNCATE with it'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM big' | Should -Be '3'
    }

    It 'leaves the session usable: the same load then runs to the end' {
        Reset-Target

        $result = Invoke-ConfitureTableMigration -Migration $migration -SourceTable big -Strategy Copy -Truncate -Force -ErrorAction Stop

        $result.RowsMigrated | Should -Be $bigRows
    }
}

Describe 'Rows written to the source during a load' -Tag IntegrationTests {
    BeforeAll {
        $digest = 'SELECT count(*) || '' '' || sum(hashtextextended(t::text, 0)::numeric) FROM live t'
        # The writes another client makes while the load runs: new rows, changed rows, deleted rows.
        $writes = "INSERT INTO live SELECT g, g FROM generate_series($($liveRows + 1), $($liveRows + 1000)) g; UPDATE live SET v = -v WHERE id <= 100; DELETE FROM live WHERE id BETWEEN 101 AND 200;"
        $undo = "DELETE FROM live WHERE id > $liveRows; UPDATE live SET v = id WHERE id <= 100; INSERT INTO live SELECT g, g FROM generate_series(101, 200) g ON CONFLICT DO NOTHING;"
    }

    It 'migrates exactly the rows of its snapshot with <_>, and Test-ConfitureMigration -Checksum matches only after -Sync' -ForEach 'Copy', 'Fdw' {
        Reset-Target
        Invoke-TestSql -Side Source -Database $pair.Database -Sql $undo | Out-Null
        $snapshot = Get-TestSqlValue -Side Source -Database $pair.Database -Sql $digest
        $shell = New-MigrationShell -Parameters @{ SourceTable = 'live'; Strategy = $_ }
        try {
            $running = $shell.BeginInvoke()
            Wait-TestCondition { $running.IsCompleted -or (Test-SourceSnapshotTaken $pair) } -Because 'the load holds its snapshot of the source' -TimeoutSeconds 60
            Invoke-TestSql -Side Source -Database $pair.Database -Sql $writes | Out-Null
            $running.IsCompleted | Should -BeFalse -Because 'the writes must land while the load runs'
            $result = @($shell.EndInvoke($running))
            $shell.Streams.Error | Should -BeNullOrEmpty
        }
        finally {
            $shell.Dispose()
        }

        $result | Should -HaveCount 1
        $result[0].RowsMigrated | Should -Be $liveRows -Because 'the count at snapshot time'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql $digest | Should -Be $snapshot -Because 'the target holds exactly the snapshot''s rows'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM live WHERE id > $liveRows OR v < 0" | Should -Be '0' -Because 'rows written after the snapshot are absent'

        (Test-ConfitureMigration -Migration $migration -Table live -Checksum -ErrorAction Stop).Match | Should -BeFalse -Because 'the source has moved on since the snapshot'
        $sync = Invoke-ConfitureTableMigration -Migration $migration -SourceTable live -Sync -Confirm:$false -ErrorAction Stop
        $sync.Mode | Should -Be 'Sync'
        $verified = Test-ConfitureMigration -Migration $migration -Table live -Checksum -ErrorAction Stop
        $verified.Match | Should -BeTrue -Because 'after -Sync the target has the source''s current rows'
        $verified.TargetCount | Should -Be ($liveRows + 1000 - 100)
    }
}


Describe 'The process killed while -DeferIndexes has the indexes dropped' -Tag IntegrationTests {
    BeforeAll {
        $keyedRows = 1500000
        Invoke-TestSql -Side Source -Database $pair.Database -Sql @"
CREATE TABLE keyed (id integer PRIMARY KEY, v integer);
INSERT INTO keyed SELECT g, g FROM generate_series(1, $keyedRows) g;
ANALYZE keyed;
"@ | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql @'
CREATE TABLE keyed (id integer, v integer NOT NULL, CONSTRAINT keyed_pkey PRIMARY KEY (id), CONSTRAINT keyed_v_key UNIQUE (v) DEFERRABLE);
CREATE INDEX keyed_v_half ON keyed ((v / 2));
ALTER INDEX keyed_v_half ALTER COLUMN 1 SET STATISTICS 300;
ALTER TABLE keyed CLUSTER ON keyed_v_half;
ALTER TABLE keyed REPLICA IDENTITY USING INDEX keyed_pkey;
COMMENT ON INDEX keyed_v_half IS 'halves';
COMMENT ON CONSTRAINT keyed_v_key ON keyed IS 'unique values';
CREATE TABLE keyed_child (id integer PRIMARY KEY, parent integer);
ALTER TABLE keyed_child ADD CONSTRAINT keyed_child_parent_fkey FOREIGN KEY (parent) REFERENCES keyed (id) NOT VALID;
'@ | Out-Null
        $definitions = @'
SELECT string_agg(d, E'\n' ORDER BY d) FROM (
  SELECT pg_get_indexdef(i.indexrelid) || ' clustered=' || i.indisclustered || ' replident=' || i.indisreplident
         || ' comment=' || coalesce(obj_description(i.indexrelid, 'pg_class'), '-')
         || ' stats=' || (SELECT string_agg(coalesce(a.attstattarget::int, -1)::text, ',' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = i.indexrelid) AS d
  FROM pg_index i WHERE i.indrelid = 'keyed'::regclass
  UNION ALL
  SELECT conname || ' ' || pg_get_constraintdef(oid) || ' ' || coalesce(obj_description(oid, 'pg_constraint'), '-') FROM pg_constraint
  WHERE conrelid = 'keyed'::regclass OR confrelid = 'keyed'::regclass) s
'@
        $deferScript = Join-Path ([IO.Path]::GetTempPath()) ('confiture-defer-' + [Guid]::NewGuid().ToString('N') + '.ps1')
        Set-Content -Path $deferScript -Value @"
param([string] `$Database, [int] `$Parallel)
`$ErrorActionPreference = 'Stop'
Import-Module '$((Join-Path $PSScriptRoot 'TestHelpers.psm1').Replace("'", "''"))'
Import-Module (Get-ModuleManifestPath)
`$user = `$env:CONFITURE_TEST_MIGRATOR_USER
`$password = `$env:CONFITURE_TEST_MIGRATOR_PASSWORD
`$source = Connect-ConfitureDatabase (New-ConnectionString -Server (Get-TestServer Source) -Database `$Database -Username `$user -Password `$password)
`$target = Connect-ConfitureDatabase (New-ConnectionString -Server (Get-TestServer Target) -Database `$Database -Username `$user -Password `$password)
`$peer = Get-FdwAddressParameter ([pscustomobject]@{ SourceHostForTarget = `$env:CONFITURE_TEST_SOURCE_HOST_FOR_TARGET; SourcePortForTarget = `$env:CONFITURE_TEST_SOURCE_PORT_FOR_TARGET })
`$migration = Enable-ConfitureFdw -Source `$source -Target `$target @peer
`$result = Invoke-ConfitureTableMigration -Migration `$migration -SourceTable keyed -Strategy Copy -Truncate -Force -DeferIndexes -Parallel `$Parallel
"MIGRATED `$(`$result.RowsMigrated)"
"@
    }

    AfterAll {
        if ($deferScript) { Remove-Item -Path $deferScript -ErrorAction SilentlyContinue }
    }

    It 'with -Parallel <_>: the next call restores every definition exactly, and says so' -ForEach 1, 2 {
        $before = Get-TestSqlText -Side Target -Database $pair.Database -Sql $definitions
        $child = Start-ChildPwsh -Path $deferScript -ArgumentList $pair.Database, "$_"
        try {
            # A COPY, not any INSERT: the parallel load's journal rows are INSERTs, written before its drops commit.
            $copying = "SELECT count(*) FROM pg_stat_activity WHERE datname = $(ConvertTo-SqlLiteral $pair.Database) AND application_name = 'Confiture' AND state = 'active' AND query ~* '^\s*COPY\s.*\sFROM\s+STDIN'"
            Wait-TestCondition { $child.HasExited -or [int](Get-TestSqlValue -Side Target -Database postgres -Sql $copying) -gt 0 } -Because 'the child process is loading the rows' -TimeoutSeconds 90
            $child.HasExited | Should -BeFalse -Because "the child must be killed mid-load (it ended with: $(if ($child.HasExited) { $child.StandardOutput.ReadToEnd() + $child.StandardError.ReadToEnd() }))"
            $child.Kill()
            $child.WaitForExit(30000) | Should -BeTrue
        }
        finally {
            if (-not $child.HasExited) { $child.Kill() }
            $child.Dispose()
        }
        Wait-LoadOver

        $afterKill = Get-TestSqlText -Side Target -Database $pair.Database -Sql $definitions
        if ($_ -gt 1) {
            $afterKill | Should -Not -Be $before -Because 'the parallel load''s drops had committed'
            Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM confiture.deferred_definition' | Should -Not -Be '0'
        }
        else {
            $afterKill | Should -Be $before -Because 'one transaction: the kill rolled the drops back'
        }

        $warnings = $null
        # The same call again (keyed_child's foreign key forbids a TRUNCATE unless it is deferred too).
        $result = Invoke-ConfitureTableMigration -Migration $migration -SourceTable keyed -Strategy Copy -Truncate -Force -DeferIndexes -WarningVariable warnings -WarningAction SilentlyContinue -ErrorAction Stop

        $result.RowsMigrated | Should -Be $keyedRows
        Get-TestSqlText -Side Target -Database $pair.Database -Sql $definitions | Should -Be $before
        if ($_ -gt 1) { ($warnings | Out-String) | Should -Match 'Restored .*keyed_pkey' }
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM keyed" | Should -Be "$keyedRows"
    }
}
