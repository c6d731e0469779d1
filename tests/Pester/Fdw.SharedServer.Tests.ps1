<#
    Enable-ConfitureFdw and Remove-ConfitureFdw on a target that other sessions use: a session in
    another live process is not taken over without -Force, a finished one is; a session for another
    source does not repoint the first; names PostgreSQL would cut are refused.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    function Start-ChildSession {
        <# Starts EnableFdw.Child.ps1 in a new process and waits for its "ready <pid>" line. #>
        param([Parameter(Mandatory)] $Pair, [switch] $Hold)
        $info = [System.Diagnostics.ProcessStartInfo]::new([Environment]::ProcessPath)
        if ([IO.Path]::GetFileNameWithoutExtension([Environment]::ProcessPath) -eq 'dotnet') { $info.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll')) }
        foreach ($argument in @('-NoProfile', '-NonInteractive', '-File', (Join-Path $PSScriptRoot 'EnableFdw.Child.ps1'),
                '-ModulePath', (Get-ModuleManifestPath), '-Source', $Pair.SourceMigrator, '-Target', $Pair.TargetMigrator)) {
            $info.ArgumentList.Add($argument)
        }
        $peer = Get-FdwAddressParameter $Pair
        if ($peer.SourceHostForTarget) { $info.ArgumentList.Add('-SourceHostForTarget'); $info.ArgumentList.Add($peer.SourceHostForTarget) }
        if ($peer.SourcePortForTarget) { $info.ArgumentList.Add('-SourcePortForTarget'); $info.ArgumentList.Add([string]$peer.SourcePortForTarget) }
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
        [pscustomobject]@{ Process = $process; Id = [int]$Matches[1] }
    }

    function Stop-ChildSession($Child) {
        if (-not $Child -or $Child.Process.HasExited) { return }
        $Child.Process.StandardInput.Close()
        if (-not $Child.Process.WaitForExit(30000)) { $Child.Process.Kill($true) }
    }
}

Describe 'Enable-ConfitureFdw beside a session of another live process' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql 'CREATE TABLE users (id integer PRIMARY KEY); INSERT INTO users SELECT generate_series(1, 5)' | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceMigrator
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
        $child = Start-ChildSession $pair -Hold
    }

    AfterAll {
        Stop-ChildSession $child
        Remove-TestDatabasePair $pair
    }

    It 'refuses the live session''s server with Confiture.ServerInUse, naming the process' {
        $failure = $null
        try { Enable-ConfitureFdw -Source $src -Target $tgt @peer -Confirm:$false } catch { $failure = $_ }

        $failure.FullyQualifiedErrorId | Should -BeLike 'Confiture.ServerInUse,*'
        $failure.Exception.Message | Should -BeLike "*process $($child.Id)*"
        $failure.ErrorDetails.RecommendedAction | Should -BeLike '*-Force*'
        $failure.TargetObject | Should -Be 'confiture_source_server'
    }

    It 'refuses it also with -WhatIf, and changes nothing' {
        { Enable-ConfitureFdw -Source $src -Target $tgt @peer -WhatIf } | Should -Throw -ErrorId 'Confiture.ServerInUse,*'
        (Get-FdwCatalogState $pair).UserMappings | Should -Be 1
    }

    It 'takes it over with -Force' {
        $migration = Enable-ConfitureFdw -Source $src -Target $tgt @peer -Force -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue

        $migration.Tables | Should -Be @('users')
        ($warnings -join "`n") | Should -BeLike '*Taking over*'
        $migration | Remove-ConfitureFdw -Confirm:$false
        $state = Get-FdwCatalogState $pair
        $state.Servers | Should -Be 0
        $state.UserMappings | Should -Be 0
    }
}

Describe 'Enable-ConfitureFdw after a process that did not clean up' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql 'CREATE TABLE users (id integer PRIMARY KEY)' | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $child = Start-ChildSession $pair
        $child.Process.WaitForExit(30000) | Out-Null
        $src = Connect-ConfitureDatabase $pair.SourceMigrator
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'takes over its objects without -Force and removes them all afterwards' {
        (Get-FdwCatalogState $pair).ForeignTables | Should -Be 1

        $migration = Enable-ConfitureFdw -Source $src -Target $tgt @peer -Confirm:$false
        $migration | Remove-ConfitureFdw -Confirm:$false

        $state = Get-FdwCatalogState $pair
        $state.Servers | Should -Be 0
        $state.UserMappings | Should -Be 0
        $state.ForeignTables | Should -Be 0
        $state.ForeignSchemas | Should -Be 0
    }
}

Describe 'Enable-ConfitureFdw for a second source under the same -ServerName' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        $other = New-TestDatabasePair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql 'CREATE TABLE users (id integer PRIMARY KEY); INSERT INTO users SELECT generate_series(1, 3)' | Out-Null
        Invoke-TestSql -Side Source -Database $other.Database -Sql 'CREATE TABLE users (id integer PRIMARY KEY); INSERT INTO users SELECT generate_series(1, 40)' | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
        $first = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target $tgt @peer -Confirm:$false
        $otherSource = Connect-ConfitureDatabase $other.SourceMigrator
    }

    AfterAll {
        Remove-TestDatabasePair $pair
        Remove-TestDatabasePair $other
    }

    It 'refuses with Confiture.ServerInUse and the first session still reads its own source' {
        { Enable-ConfitureFdw -Source $otherSource -Target $tgt @peer -Confirm:$false } | Should -Throw -ErrorId 'Confiture.ServerInUse,*'

        Get-TestSqlValue -Side Target -Database $pair.Database -AsMigrator -Sql 'SELECT count(*) FROM old_schema.users' | Should -Be '3'
    }

    It 'works beside it under its own -ServerName and -ForeignSchema, and each cleanup removes only its own' {
        $second = Enable-ConfitureFdw -Source $otherSource -Target $tgt @peer -ServerName confiture_other -ForeignSchema other_schema -Confirm:$false
        Get-TestSqlValue -Side Target -Database $pair.Database -AsMigrator -Sql 'SELECT count(*) FROM other_schema.users' | Should -Be '40'

        $second | Remove-ConfitureFdw -Confirm:$false

        Get-TestSqlValue -Side Target -Database $pair.Database -AsMigrator -Sql 'SELECT count(*) FROM old_schema.users' | Should -Be '3'
        (Get-FdwCatalogState $pair -ServerName confiture_other -ForeignSchema other_schema).NamedServers | Should -Be 0
        $first | Remove-ConfitureFdw -Confirm:$false
        (Get-FdwCatalogState $pair).Servers | Should -Be 0
    }
}

Describe 'Enable-ConfitureFdw and names PostgreSQL would cut' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql 'CREATE TABLE users (id integer PRIMARY KEY)' | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceMigrator
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
        # 32 characters, 64 bytes in UTF-8.
        $long = [string]::new([char]0x00E9, 32)
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'refuses a -<Name> over 63 bytes with Confiture.InvalidArgument and creates nothing' -ForEach @(
        @{ Name = 'ServerName' }, @{ Name = 'ForeignSchema' }, @{ Name = 'SourceSchema' }, @{ Name = 'Table' }
    ) {
        $arguments = @{ $Name = $long }
        { Enable-ConfitureFdw -Source $src -Target $tgt @peer @arguments -Confirm:$false } | Should -Throw -ErrorId 'Confiture.InvalidArgument,*'
        (Get-FdwCatalogState $pair).Servers | Should -Be 0
    }
}
