<#
    The change stream end to end, against a source with wal_level = logical: a process applying it
    killed in the middle of a batch, then a new process goes on from the stored position, and the
    target matches the source value for value with no change applied twice; a failed setup and a
    cleanup leave no slot behind. Every test drops its slots: the shared source has few.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Hostile.Helpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    function Get-Slot([string] $Database) {
        Get-TestSqlText -Side Source -Database $Database -Sql 'SELECT slot_name FROM pg_replication_slots WHERE database = current_database()'
    }
}

Describe 'Sync-ConfitureMigration' -Tag UnitTests {
    It 'has the documented parameters' {
        $names = Get-CommandParameterName Sync-ConfitureMigration
        foreach ($name in 'Migration', 'Continuous', 'For', 'Until', 'BatchSize') { $names | Should -Contain $name }
        (Get-Command Sync-ConfitureMigration).Parameters.Keys | Should -Contain 'WhatIf'
        (Get-Command Sync-ConfitureMigration).OutputType.Type.Name | Should -Contain 'ConfitureChangeStreamStatus'
    }
}

Describe 'The change stream across a killed process' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql @'
CREATE TABLE acct (id integer PRIMARY KEY, name text NOT NULL, amount numeric(12,2), opened timestamp);
INSERT INTO acct SELECT g, 'Account ' || g, g, '2024-01-01'::timestamp + g * interval '1 minute' FROM generate_series(1, 20000) g;
'@ | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql @'
CREATE TABLE acct (account_id bigint PRIMARY KEY, label text NOT NULL, amount numeric(14,2), opened timestamptz);
'@ | Out-Null
        $peer = Get-FdwAddressParameter $pair
        # The source as its superuser: a change stream needs a role that may replicate and publish.
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceAdmin) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer -ChangeStream -Confirm:$false
        $mapping = @{ id = 'account_id'; name = 'label'; amount = 'amount'; opened = 'opened' }
        Invoke-ConfitureTableMigration -Migration $migration -SourceTable acct -ColumnMapping $mapping -Confirm:$false | Out-Null

        # The call a runbook job makes: connect, set up (taking the stream over), apply.
        $childScript = Join-Path ([IO.Path]::GetTempPath()) ('confiture-stream-' + [Guid]::NewGuid().ToString('N') + '.ps1')
        Set-Content -Path $childScript -Value @"
param([string] `$Database, [string] `$BatchSize)
`$ErrorActionPreference = 'Stop'
Import-Module '$((Join-Path $PSScriptRoot 'TestHelpers.psm1').Replace("'", "''"))'
Import-Module (Get-ModuleManifestPath)
`$user = `$env:CONFITURE_TEST_MIGRATOR_USER
`$password = `$env:CONFITURE_TEST_MIGRATOR_PASSWORD
`$source = Connect-ConfitureDatabase (New-ConnectionString -Server (Get-TestServer Source) -Database `$Database)
`$target = Connect-ConfitureDatabase (New-ConnectionString -Server (Get-TestServer Target) -Database `$Database -Username `$user -Password `$password)
`$peer = Get-FdwAddressParameter ([pscustomobject]@{ SourceHostForTarget = `$env:CONFITURE_TEST_SOURCE_HOST_FOR_TARGET; SourcePortForTarget = `$env:CONFITURE_TEST_SOURCE_PORT_FOR_TARGET })
`$migration = Enable-ConfitureFdw -Source `$source -Target `$target @peer -ChangeStream -Force -Confirm:`$false -WarningAction SilentlyContinue
`$status = Sync-ConfitureMigration -Migration `$migration -BatchSize ([int]`$BatchSize) -Confirm:`$false
"APPLIED `$(`$status.ChangesApplied)"
"@
    }

    AfterAll {
        if ($childScript) { Remove-Item -Path $childScript -ErrorAction SilentlyContinue }
        if ($migration) { $migration | Remove-ConfitureFdw -Confirm:$false -ErrorAction Continue }
        if ($pair) {
            Get-Slot $pair.Database | Should -BeNullOrEmpty -Because 'cleanup drops the slot'
            Remove-TestDatabasePair $pair
        }
    }

    It 'goes on in a new process after a kill in the middle of a batch, and applies every change exactly once' {
        # 30 source transactions of 5000 changes each: the amounts only come out right if no update is applied twice.
        $sql = (1..30 | ForEach-Object { "UPDATE acct SET amount = amount + 1, name = name || '.' WHERE id % 4 = $($_ % 4);" }) -join "`n"
        Invoke-TestSql -Side Source -Database $pair.Database -Sql $sql | Out-Null
        Invoke-TestSql -Side Source -Database $pair.Database -Sql "DELETE FROM acct WHERE id > 19900; INSERT INTO acct VALUES (50000, 'New', NULL, NULL); UPDATE acct SET id = 60000 WHERE id = 1" | Out-Null
        $changes = 30 * 5000 + 100 + 1 + 1

        $child = Start-ChildPwsh -Path $childScript -ArgumentList $pair.Database, '2000'
        try {
            $applied = { [long](Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT coalesce((SELECT changes_applied FROM confiture.stream_position), 0)') }
            Wait-TestCondition { $child.HasExited -or (& $applied) -gt 0 } -Because 'the child applies the first batches' -TimeoutSeconds 120
            $child.HasExited | Should -BeFalse -Because "the child must be killed mid-stream (it ended with: $(if ($child.HasExited) { $child.StandardOutput.ReadToEnd() + $child.StandardError.ReadToEnd() }))"
            $child.Kill()
            $child.WaitForExit(30000) | Should -BeTrue
        }
        finally {
            if (-not $child.HasExited) { $child.Kill() }
            $child.Dispose()
        }
        $atKill = & $applied
        $atKill | Should -BeLessThan $changes -Because 'the kill came before the end'

        $output = @(Invoke-ChildPwsh -Path $childScript -ArgumentList $pair.Database, '2000')

        $output | Should -Contain "APPLIED $($changes - $atKill)" -Because 'the new process applies only what the target did not hold'
        & $applied | Should -Be $changes
        $check = Test-ConfitureMigration -Migration $migration -SourceTable acct -ColumnMapping $mapping -Checksum
        $check.ChecksumMatch | Should -BeTrue
        $check.Match | Should -BeTrue
        Get-Slot $pair.Database | Should -HaveCount 1 -Because 'the new process took the slot over instead of making another'
    }
}

Describe 'Setup that fails' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql 'CREATE TABLE keyed (id int PRIMARY KEY); CREATE TABLE heap (a int)' | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceAdmin
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
    }

    AfterAll {
        if ($pair) { Remove-TestDatabasePair $pair }
    }

    It 'refuses a table without replica identity by name, and leaves no slot' {
        { Enable-ConfitureFdw -Source $src -Target $tgt @peer -ChangeStream -Confirm:$false } | Should -Throw -ErrorId 'Confiture.ReplicaIdentityMissing,*' -ExpectedMessage '*"heap"*'
        Get-Slot $pair.Database | Should -BeNullOrEmpty
    }

    It 'refuses a source role that may not replicate' {
        $user = New-ConnectionString -Server (Get-TestServer Source) -Database $pair.Database -Username $env:CONFITURE_TEST_MIGRATOR_USER -Password $env:CONFITURE_TEST_MIGRATOR_PASSWORD
        { Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $user) -Target $tgt @peer -Table keyed -ChangeStream -Confirm:$false } | Should -Throw -ErrorId 'Confiture.ReplicationNotAllowed,*'
        Get-Slot $pair.Database | Should -BeNullOrEmpty
    }

    It 'with -WhatIf shows the source statements and creates nothing' {
        $run = Get-HostOutput { Enable-ConfitureFdw -Source $src -Target $tgt @peer -Table keyed -ChangeStream -WhatIf }
        $run.Text | Should -BeLike '*CREATE PUBLICATION*"keyed"*CREATE_REPLICATION_SLOT*pgoutput*'
        Get-Slot $pair.Database | Should -BeNullOrEmpty
    }
}
