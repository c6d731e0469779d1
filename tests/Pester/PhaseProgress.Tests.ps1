<#
    The progress bars of a checksum and of a sync, as a user's host receives them: what phase each
    table is in and how far, one bar for a call over several tables, every bar completed at the end.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    function Invoke-WithProgress {
        <# Runs one command in a fresh PowerShell with the module, and returns its output and its progress records. #>
        param([Parameter(Mandatory)][string] $Command, [Parameter(Mandatory)][hashtable] $Parameters)
        $state = [initialsessionstate]::CreateDefault2()
        $state.ImportPSModule([string[]]@(Get-ModuleManifestPath))
        $shell = [powershell]::Create($state)
        try {
            $null = $shell.AddScript('$ProgressPreference = ''Continue''').AddStatement()
            $null = $shell.AddCommand($Command).AddParameters($Parameters)
            $output = @($shell.Invoke())
            [pscustomobject]@{ Output = $output; Progress = @($shell.Streams.Progress); Errors = @($shell.Streams.Error) }
        }
        finally {
            $shell.Dispose()
        }
    }

    function Get-Rows {
        <# The rows a record's status ends with, whatever the culture's digit grouping. #>
        param($Record)
        if ($Record.StatusDescription -match ', (?<rows>[^,]*\d[^a-z]*) rows$') { [long]($Matches.rows -replace '\D') }
    }

    function Assert-Rising {
        <# A bar that moved: several records, the percentage never going back, reaching 100. #>
        param([object[]] $Records)
        $Records.Count | Should -BeGreaterThan 2 -Because 'the bar moves as each part ends'
        $percent = @($Records.PercentComplete)
        for ($i = 1; $i -lt $percent.Count; $i++) { $percent[$i] | Should -BeGreaterOrEqual $percent[$i - 1] }
        $percent[-1] | Should -Be 100
    }

    $pair = New-TestDatabasePair
    $table = 'CREATE TABLE {0} (id bigint PRIMARY KEY, v text);'
    Invoke-TestSql -Side Source -Database $pair.Database -Sql (($table -f 'reading') + ($table -f 'other') + @'
INSERT INTO reading SELECT g, 'reading number ' || g FROM generate_series(1, 50000) g;
INSERT INTO other SELECT g, 'other number ' || g FROM generate_series(1, 30000) g;
'@) | Out-Null
    Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql (($table -f 'reading') + ($table -f 'other')) | Out-Null
    $peer = Get-FdwAddressParameter $pair
    $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer -Confirm:$false
    $null = 'reading', 'other' | Invoke-ConfitureTableMigration -Migration $migration -Strategy Copy -Force -ErrorAction Stop
}

AfterAll {
    if ($migration) { $migration | Remove-ConfitureFdw -Confirm:$false }
    Remove-TestDatabasePair $pair
}

Describe 'Test-ConfitureMigration -Checksum over several tables' -Tag IntegrationTests {
    BeforeAll {
        $run = Invoke-WithProgress Test-ConfitureMigration @{ Migration = $migration; Table = 'reading', 'other', 'missing'; Checksum = $true; ErrorAction = 'Continue' }
        $call = @($run.Progress | Where-Object Activity -EQ 'Verifying tables')
    }

    It 'finds what it found before: both tables match, the missing one is an error' {
        $run.Output.Count | Should -Be 2
        $run.Output.Match | Should -Be $true, $true
        $run.Output[0].SourceChecksum | Should -Be (Get-TestSqlValue -Side Source -Database $pair.Database -Sql 'SELECT coalesce(sum(hashtextextended(ROW(id, v)::text, 0)), 0)::text FROM reading')
        $run.Errors.FullyQualifiedErrorId | Should -BeLike 'Confiture.TableNotFound*'
    }

    It 'shows one bar for the call, tables done of all, completed at the end' {
        $call.Count | Should -BeGreaterThan 3
        $call | Where-Object RecordType -EQ 'Processing' | ForEach-Object { $_.StatusDescription | Should -Match '^[0-3] of 3 tables$' }
        ($call | Where-Object RecordType -EQ 'Processing')[-1].StatusDescription | Should -Be '3 of 3 tables' -Because 'the failed table counts as done too'
        $call[-1].RecordType | Should -Be 'Completed'
        @($call | Where-Object RecordType -EQ 'Completed').Count | Should -Be 1
    }

    It 'shows a bar per table beneath it, naming the phase and the blocks hashed of all, completed when the table is' {
        foreach ($name in 'reading', 'other') {
            $bar = @($run.Progress | Where-Object Activity -EQ "Verifying $name")
            $bar.ParentActivityId | Sort-Object -Unique | Should -Be $call[0].ActivityId
            $hashing = @($bar | Where-Object RecordType -EQ 'Processing')
            $hashing | ForEach-Object { $_.StatusDescription | Should -Match '^Hashing both tables: [\d,.]+ of [\d,.]+ blocks, [\d,.]+ rows$' }
            Assert-Rising $hashing
            $rows = if ($name -eq 'reading') { '100000' } else { '60000' }
            Get-Rows $hashing[-1] | Should -Be $rows -Because 'both servers hashed every row'
            $bar[-1].RecordType | Should -Be 'Completed'
        }
    }

    It 'shows no secret in any progress record' {
        $text = ($run.Progress | ForEach-Object { $_.Activity; $_.StatusDescription; $_.CurrentOperation }) -join "`n"
        foreach ($form in Get-SecretForm $pair.MigratorPassword) { $text | Should -Not -BeLike "*$form*" }
    }
}

Describe 'Invoke-ConfitureTableMigration -Sync' -Tag IntegrationTests {
    It 'shows the phases of the sync on one bar, how far each is, and completes it' {
        Invoke-TestSql -Side Source -Database $pair.Database -Sql "UPDATE reading SET v = 'changed' WHERE id % 100 = 0; DELETE FROM reading WHERE id = 3" | Out-Null

        $run = Invoke-WithProgress Invoke-ConfitureTableMigration @{ Migration = $migration; SourceTable = 'reading'; Sync = $true; Force = $true; ErrorAction = 'Stop' }

        $run.Output.RowsUpdated | Should -Be 500
        $run.Output.RowsDeleted | Should -Be 1
        $bar = @($run.Progress | Where-Object Activity -EQ 'Syncing reading')
        $bar.Count | Should -Be $run.Progress.Count -Because 'one table synced alone has one bar'
        $bar[-1].RecordType | Should -Be 'Completed'
        $working = @($bar | Where-Object RecordType -EQ 'Processing')
        $hashing = @($working | Where-Object StatusDescription -Match '^Hashing key ranges of both tables: [\d,.]+ of [\d,.]+ blocks, [\d,.]+ rows$')
        Assert-Rising $hashing
        $rewriting = @($working | Where-Object StatusDescription -Match '^Rewriting the rows of (?<n>[\d,.]+) key ranges: [\d,.]+ of \k<n> key ranges, [\d,.]+ rows$')
        $rewriting.Count | Should -BeGreaterThan 1
        $rewriting[-1].PercentComplete | Should -Be 100
        Get-Rows $rewriting[-1] | Should -Be 501 -Because '500 rows were rewritten and one deleted'
        $working.IndexOf($rewriting[0]) | Should -BeGreaterThan $working.IndexOf($hashing[-1]) -Because 'the rows are rewritten after the digests said where'
        (Test-ConfitureMigration -Migration $migration -Table reading -Checksum).Match | Should -BeTrue
    }
}

Describe 'Ctrl+C in the middle of Test-ConfitureMigration -Checksum' -Tag IntegrationTests {
    It 'stops at once, with the server''s statement cancelled, while a table''s bar is open' {
        # Another session holds the target's table: the checksum of it waits on the lock until stopped.
        $holder = Start-TestSqlSession -Side Target -Database $pair.Database -Sql 'BEGIN; LOCK TABLE other IN ACCESS EXCLUSIVE MODE;'
        $state = [initialsessionstate]::CreateDefault2()
        $state.ImportPSModule([string[]]@(Get-ModuleManifestPath))
        $shell = [powershell]::Create($state)
        try {
            Wait-TestCondition -Because 'the lock is held' { [int](Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM pg_locks WHERE relation = 'public.other'::regclass AND mode = 'AccessExclusiveLock' AND granted") -eq 1 }
            $null = $shell.AddCommand('Test-ConfitureMigration').AddParameters(@{ Migration = $migration; Table = @('reading', 'other'); Checksum = $true })
            $running = $shell.BeginInvoke()
            $waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND usename = '$($pair.MigratorUser)'"
            Wait-TestCondition -Because 'the checksum of the locked table waits' -TimeoutSeconds 60 { $running.IsCompleted -or [int](Get-TestSqlValue -Side Target -Database $pair.Database -Sql $waiting) -gt 0 }
            $running.IsCompleted | Should -BeFalse -Because 'the checksum must be stopped mid-way'
            $clock = [System.Diagnostics.Stopwatch]::StartNew()
            $shell.Stop()
            $clock.Stop()

            $clock.Elapsed.TotalSeconds | Should -BeLessThan 2.5 -Because 'Ctrl+C cancels the statements on the servers, it does not wait for the lock'
            $shell.InvocationStateInfo.State | Should -Be 'Stopped'
            $reading = @($shell.Streams.Progress | Where-Object Activity -EQ 'Verifying reading')
            $reading[-1].RecordType | Should -Be 'Completed' -Because 'the table checked before the stop has its bar ended'
            @($shell.Streams.Progress | Where-Object Activity -EQ 'Verifying tables').Count | Should -BeGreaterThan 0
        }
        finally {
            $shell.Dispose()
            Stop-TestSqlSession $holder
        }
        Wait-TestCondition -Because 'the cancel reached the target server' -TimeoutSeconds 5 { [int](Get-TestSqlValue -Side Target -Database $pair.Database -Sql $waiting) -eq 0 }
    }
}
