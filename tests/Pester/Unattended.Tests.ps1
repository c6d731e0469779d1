BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    # One Confiture call in a new pwsh, as a scheduled job runs it: -NonInteractive, or its input
    # from /dev/null (no terminal to answer a prompt, and no -NonInteractive to say so).
    function Invoke-UnattendedChild([string] $Case, [ValidateSet('NonInteractive', 'NullInput')] [string] $Host_) {
        $process = [Environment]::ProcessPath
        $arguments = [System.Collections.Generic.List[string]]::new()
        if ([IO.Path]::GetFileNameWithoutExtension($process) -eq 'dotnet') { $arguments.Add((Join-Path $PSHOME 'pwsh.dll')) }
        $arguments.Add('-NoProfile')
        if ($Host_ -eq 'NonInteractive') { $arguments.Add('-NonInteractive') }
        $arguments.AddRange([string[]]@('-File', (Join-Path $PSScriptRoot 'Unattended.Child.ps1'), '-ModulePath', (Get-ModuleManifestPath),
                '-Source', $pair.SourceMigrator, '-Target', $pair.TargetMigrator, '-Case', $Case))
        foreach ($entry in (Get-FdwAddressParameter $pair).GetEnumerator()) { $arguments.AddRange([string[]]@("-$($entry.Key)", "$($entry.Value)")) }
        $quoted = ($arguments | ForEach-Object { "'" + $_.Replace("'", "'\''") + "'" }) -join ' '
        $output = if ($Host_ -eq 'NullInput') {
            # sh gives the child /dev/null as its standard input, exactly as cron or a service manager does.
            & /bin/sh -c "'$process' $quoted < /dev/null" 2>&1
        }
        else {
            # A terminal (script's pseudo-terminal) on its input: only the -NonInteractive switch says it cannot ask.
            & script -qec "'$process' $quoted" /dev/null 2>&1
        }
        $line = @($output | ForEach-Object { "$_" } | Where-Object { $_ -match '\{.*\}' }) | Select-Object -Last 1
        if (-not $line) { throw "The child printed no result ($LASTEXITCODE): $($output -join [Environment]::NewLine)" }
        $line.Substring($line.IndexOf('{'), $line.LastIndexOf('}') - $line.IndexOf('{') + 1) | ConvertFrom-Json
    }
}

Describe 'A question in a host that cannot ask' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-UsersTables -Pair $pair -Rows 20
        Invoke-TestSql -Side Target -Database $pair.Database -Sql "INSERT INTO users VALUES (1000, 'precious', NULL)" | Out-Null
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It '<Case> without -Force under <Host_> is Confiture.ConfirmationRequired naming -Force, and the target keeps its rows' -ForEach @(
        @{ Host_ = 'NonInteractive'; Case = 'Truncate' }
        @{ Host_ = 'NullInput'; Case = 'Truncate' }
        @{ Host_ = 'NonInteractive'; Case = 'ConfirmPreference' }
        @{ Host_ = 'NullInput'; Case = 'ConfirmPreference' }
    ) {
        $result = Invoke-UnattendedChild -Case $Case -Host_ $Host_
        $result.ErrorId | Should -BeLike 'Confiture.ConfirmationRequired,*'
        $result.Action | Should -Match '-Force'
        $result.Action | Should -Match '-Confirm:\$false'
        $result.Message | Should -Match 'cannot ask'
        $result.Message | Should -Match $(if ($Host_ -eq 'NonInteractive') { 'runs with -NonInteractive' } else { 'input is redirected' })
        $result.Message | Should -Not -Match 'Object reference'
        Get-TestSqlText -Side Target -Database $pair.Database -Sql 'SELECT id, display_name FROM users' | Should -Be '1000|precious'
    }

    It 'Remove-ConfitureFdw asked by $ConfirmPreference under <Host_> is Confiture.ConfirmationRequired, and nothing is removed before' -ForEach @(
        @{ Host_ = 'NonInteractive' }
        @{ Host_ = 'NullInput' }
    ) {
        $result = Invoke-UnattendedChild -Case RemoveConfirmPreference -Host_ $Host_
        $result.ErrorId | Should -BeLike 'Confiture.ConfirmationRequired,*'
        $result.Action | Should -Match '-Force'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM pg_foreign_server" | Should -Be '1'
        # Setup again takes over the ended process's objects; this process then cleans up without a question.
        $peer = Get-FdwAddressParameter $pair
        Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer -Confirm:$false |
            Remove-ConfitureFdw -Force
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM pg_foreign_server" | Should -Be '0'
    }

    It '-Force asks nothing under <Host_>, even with $ConfirmPreference Low' -ForEach @(
        @{ Host_ = 'NonInteractive'; Case = 'TruncateForce' }
        @{ Host_ = 'NullInput'; Case = 'ConfirmPreferenceForce' }
    ) {
        Invoke-TestSql -Side Target -Database $pair.Database -Sql "TRUNCATE users; INSERT INTO users VALUES (1000, 'precious', NULL)" | Out-Null
        $result = Invoke-UnattendedChild -Case $Case -Host_ $Host_
        $result.ErrorId | Should -Be 'ok'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM users' | Should -Be '20'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM users WHERE id = 1000' | Should -Be '0'
    }
}

Describe 'Reading pwsh''s -NonInteractive switch' -Tag UnitTests {
    It 'finds <Arguments> -> <Expected>' -ForEach @(
        @{ Arguments = @('pwsh', '-NoProfile', '-NonInteractive', '-File', 'x.ps1'); Expected = $true }
        @{ Arguments = @('pwsh', '-noni', '-c', 'x'); Expected = $true }
        @{ Arguments = @('pwsh', '/NonInteractive'); Expected = $true }
        @{ Arguments = @('pwsh', '-NoProfile', '-File', 'x.ps1', '-NonInteractive'); Expected = $false }
        @{ Arguments = @('pwsh', '-non'); Expected = $false }
        @{ Arguments = @('pwsh', '-NoProfile'); Expected = $false }
    ) {
        $type = (Get-Module Confiture).ImplementingAssembly.GetType('Confiture.PowerShell.Hosting.Confirmation')
        $method = $type.GetMethod('HasNonInteractiveFlag', [Reflection.BindingFlags]'Static, NonPublic')
        $method.Invoke($null, @(, [string[]]$Arguments)) | Should -Be $Expected
    }
}
