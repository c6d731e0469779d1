<#
    Get-ConfitureMigration: the sessions recorded on a target, found and continued by a later
    process (the next job of a runbook) without setting anything up again.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    function Start-EnableChild {
        <# Enable-ConfitureFdw in a process of its own (EnableFdw.Child.ps1); with -Hold it stays alive until its input closes. #>
        param([Parameter(Mandatory)] $Pair, [switch] $Hold)
        $info = [System.Diagnostics.ProcessStartInfo]::new([Environment]::ProcessPath)
        if ([IO.Path]::GetFileNameWithoutExtension([Environment]::ProcessPath) -eq 'dotnet') { $info.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll')) }
        foreach ($argument in @('-NoProfile', '-NonInteractive', '-File', (Join-Path $PSScriptRoot 'EnableFdw.Child.ps1'),
                '-ModulePath', (Get-ModuleManifestPath), '-Source', $Pair.SourceMigrator, '-Target', $Pair.TargetMigrator)) {
            $info.ArgumentList.Add($argument)
        }
        foreach ($entry in (Get-FdwAddressParameter $Pair).GetEnumerator()) { $info.ArgumentList.Add("-$($entry.Key)"); $info.ArgumentList.Add("$($entry.Value)") }
        if ($Hold) { $info.ArgumentList.Add('-Hold') }
        $info.RedirectStandardInput = $true
        $info.RedirectStandardOutput = $true
        $info.UseShellExecute = $false
        $process = [System.Diagnostics.Process]::Start($info)
        $line = $process.StandardOutput.ReadLineAsync()
        if (-not $line.Wait([TimeSpan]::FromSeconds(90)) -or "$($line.Result)" -notmatch '^ready (\d+)$') {
            if (-not $process.HasExited) { $process.Kill($true) }
            throw "The child session did not start: $($line.Result)"
        }
        if (-not $Hold) { $process.StandardInput.Close(); $null = $process.WaitForExit(60000) }
        $process
    }

    function New-TwoTables($Pair) {
        foreach ($side in 'Source', 'Target') {
            Invoke-TestSql -Side $side -Database $Pair.Database -AsMigrator:($side -eq 'Target') -Sql @'
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE notes (id int PRIMARY KEY, item_id int REFERENCES items, body text);
'@ | Out-Null
        }
        Invoke-TestSql -Side Source -Database $Pair.Database -Sql @'
INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 150) g;
INSERT INTO notes SELECT g, 1 + g % 150, CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END FROM generate_series(1, 90) g;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO PUBLIC;
'@ | Out-Null
    }
}

Describe 'Get-ConfitureMigration' -Tag UnitTests {
    It 'takes -Target, -Source, -Name, -SourceHostForTarget, -SourcePortForTarget, in a List and a Continue set' {
        Get-CommandParameterName Get-ConfitureMigration | Sort-Object | Should -Be @('Name', 'Source', 'SourceHostForTarget', 'SourcePortForTarget', 'Target')
        (Get-Command Get-ConfitureMigration).ParameterSets.Name | Sort-Object | Should -Be @('Continue', 'List')
    }
}

Describe 'A session set up by one process, continued by another' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-TwoTables $pair
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceMigrator
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
        # The first job: sets the session up and ends without cleaning up.
        $null = Start-EnableChild $pair
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'lists the recorded session with its source, schemas, tables and state Ended, and says -Source is needed to continue' {
        $listed = @(Get-ConfitureMigration -Target $tgt)
        $listed.Count | Should -Be 1
        $listed[0] | Should -BeOfType ([Confiture.PowerShell.Types.ConfitureMigrationRecord])
        $listed[0].ServerName | Should -Be 'confiture_source_server'
        $listed[0].State | Should -Be 'Ended'
        $listed[0].SourceDatabase | Should -Be $pair.Database
        $listed[0].SourceSchema | Should -Be 'public'
        $listed[0].ForeignSchema | Should -Be 'old_schema'
        $listed[0].Tables | Sort-Object | Should -Be @('items', 'notes')
        $listed[0].Migrated | Should -BeNullOrEmpty
        $listed[0].Continue | Should -Match '-Source'
        ($listed | Format-Table | Out-String -Width 80) | Should -Match 'Ended\s+2\s+0\s+confiture_source_server'
        @(Get-ConfitureMigration -Target $tgt -Name 'confiture_*').Count | Should -Be 1
        @(Get-ConfitureMigration -Target $tgt -Name 'other_*').Count | Should -Be 0
    }

    It 'names the recorded sessions when -Name matches none (Confiture.SessionNotFound)' {
        $null = Get-ConfitureMigration -Target $tgt -Name nope -ErrorVariable failures -ErrorAction SilentlyContinue
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'Confiture.SessionNotFound,*'
        $failures[0].ErrorDetails.RecommendedAction | Should -Match 'confiture_source_server'
    }

    It 'refuses a -Source that is not the recorded one (Confiture.SourceMismatch), with or without -Name, and changes nothing' {
        $other = Connect-ConfitureDatabase (New-ConnectionString -Server (Get-TestServer Source) -Database postgres)
        { Get-ConfitureMigration -Target $tgt -Source $other @peer -Name confiture_source_server -ErrorAction Stop } | Should -Throw -ErrorId 'Confiture.SourceMismatch,*'
        { Get-ConfitureMigration -Target $tgt -Source $other @peer } | Should -Throw -ErrorId 'Confiture.SourceMismatch,*'
        (Get-ConfitureMigration -Target $tgt).State | Should -Be 'Ended'
    }

    It 'continues it in a new process: Get-ConfitureMigration -Source | Invoke | Test, then Remove-ConfitureFdw cleans up' {
        $arguments = @('-ModulePath', (Get-ModuleManifestPath), '-Source', $pair.SourceMigrator, '-Target', $pair.TargetMigrator)
        foreach ($entry in $peer.GetEnumerator()) { $arguments += "-$($entry.Key)", "$($entry.Value)" }
        $json = Invoke-ChildPwsh -Path (Join-Path $PSScriptRoot 'ContinueSession.Child.ps1') -ArgumentList $arguments | Where-Object { $_ -like '{*' } | Select-Object -Last 1
        $seen = $json | ConvertFrom-Json
        $seen.Sessions | Should -Be 1
        $seen.Type | Should -Be 'Confiture.PowerShell.Types.ConfitureMigration'
        $seen.Tables | Should -Be @('items', 'notes')
        $seen.Migrated | Should -Be @('items=150', 'notes=90')
        $seen.Checks | Should -Be @('items:True:True:150', 'notes:True:True:90')
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM notes WHERE body IS NULL' | Should -Be '30'
        # Nothing of the session is left: server, mapping, foreign schema, record.
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM pg_foreign_server' | Should -Be '0'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM pg_user_mappings' | Should -Be '0'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM pg_namespace WHERE nspname IN ('old_schema', 'confiture')" | Should -Be '0'
        @(Get-ConfitureMigration -Target $tgt).Count | Should -Be 0
    }
}

Describe 'A session whose process still runs' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-TwoTables $pair
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceMigrator
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
        $child = Start-EnableChild $pair -Hold
    }

    AfterAll {
        if ($child -and -not $child.HasExited) { $child.StandardInput.Close(); if (-not $child.WaitForExit(30000)) { $child.Kill($true) } }
        Remove-TestDatabasePair $pair
    }

    It 'is listed as Live, and continued with a warning that its cleanup is that process''s' {
        (Get-ConfitureMigration -Target $tgt).State | Should -Be 'Live'
        $m = Get-ConfitureMigration -Target $tgt -Source $src @peer -WarningVariable warnings -WarningAction SilentlyContinue
        $m | Should -BeOfType ([Confiture.PowerShell.Types.ConfitureMigration])
        "$warnings" | Should -Match 'still live'
        $result = $m | Invoke-ConfitureTableMigration -SourceTable items -Force
        $result.RowsMigrated | Should -Be 150
        { $m | Remove-ConfitureFdw -Force } | Should -Throw -ErrorId 'Confiture.ServerInUse,*'
    }

    It 'is Ended once that process has stopped' {
        $child.StandardInput.Close()
        $null = $child.WaitForExit(30000)
        Wait-TestCondition -TimeoutSeconds 30 -Because 'the ended process''s lock goes with its connection' -Condition { (Get-ConfitureMigration -Target $tgt).State -eq 'Ended' }
        Get-ConfitureMigration -Target $tgt -Source $src @peer | Remove-ConfitureFdw -Force
        @(Get-ConfitureMigration -Target $tgt).Count | Should -Be 0
    }
}
