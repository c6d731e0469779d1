BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
    $quickStart = Join-Path $PSScriptRoot '../../examples/quick-start.ps1' | Resolve-Path | Select-Object -ExpandProperty Path
}

Describe 'examples/quick-start.ps1' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-UsersTables -Pair $pair -Rows 300
        $arguments = @{ SourceConnectionString = $pair.SourceMigrator; TargetConnectionString = $pair.TargetMigrator } + (Get-FdwAddressParameter $pair)
        $printed = (& $quickStart @arguments 6>&1 | Out-String)
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'moves users into the new shape: full_name becomes display_name, created_at stays behind' {
        $expected = Get-TestSqlText -Side Source -Database $pair.Database -Sql 'SELECT id, full_name, email FROM users ORDER BY id'
        $actual = Get-TestSqlText -Side Target -Database $pair.Database -Sql 'SELECT id, display_name, email FROM users ORDER BY id'

        ($actual -split "`n").Count | Should -Be 300
        $actual | Should -BeExactly $expected
    }

    It 'removes everything it created on the target' {
        $state = Get-FdwCatalogState $pair

        $state.Servers | Should -Be 0
        $state.UserMappings | Should -Be 0
        $state.ForeignTables | Should -Be 0
        $state.ForeignSchemas | Should -Be 0
    }

    It 'prints what each step returns' {
        $printed | Should -Match '== Session \(Enable-ConfitureFdw\)'
        $printed | Should -Match 'ForeignSchema\s*:\s*old_schema'
        $printed | Should -Match 'RowsMigrated\s*:\s*300'
        $printed | Should -Match 'Match\s*:\s*True'
        $printed | Should -Match '== Removed'
    }

    It 'prints no password' {
        foreach ($form in Get-SecretForm $pair.MigratorPassword) {
            $printed.Contains($form) | Should -BeFalse -Because "the password (as '$form') must not show"
        }
    }

    It 'stops on a failed step and still removes what it created' {
        # The target now holds the rows: a second run is refused, and the finally block cleans up.
        { & $quickStart @arguments 6>$null } | Should -Throw -ErrorId 'Confiture.TargetNotEmpty,*'

        $state = Get-FdwCatalogState $pair
        $state.Servers | Should -Be 0
        $state.UserMappings | Should -Be 0
        $state.ForeignSchemas | Should -Be 0
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM users' | Should -Be '300'
    }
}
