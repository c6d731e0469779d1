BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'Test-ConfitureCutover parameters' -Tag UnitTests {
    It 'has exactly the parameters it documents' {
        Get-CommandParameterName Test-ConfitureCutover | Sort-Object | Should -Be @('MaxStreamLagBytes', 'Migration', 'Quiet', 'Table')
    }

    It 'takes the session from the pipeline, itself or carried by a result' {
        $migration = (Get-Command Test-ConfitureCutover).Parameters['Migration'].Attributes.Where({ $_ -is [Parameter] })
        $migration.ValueFromPipeline | Should -Contain $true
        $migration.ValueFromPipelineByPropertyName | Should -Contain $true
    }

    It 'declares both of its outputs: the readiness, or one boolean with -Quiet' {
        (Get-Command Test-ConfitureCutover).OutputType.Type | Should -Contain ([Confiture.PowerShell.Types.ConfitureCutoverReadiness])
        (Get-Command Test-ConfitureCutover).OutputType.Type | Should -Contain ([bool])
    }
}

Describe 'Test-ConfitureCutover' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-UsersTables -Pair $pair -Rows 150
        $peer = Get-FdwAddressParameter $pair
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) -Table users @peer
        $results = Invoke-ConfitureTableMigration -Migration $migration -Table users -ColumnMapping ([ordered]@{ id = 'id'; full_name = 'display_name'; email = 'email' })
        $null = $results | Test-ConfitureMigration -Checksum
    }

    AfterAll {
        if ($migration) { $migration | Remove-ConfitureFdw -ErrorAction Continue }
        Remove-TestDatabasePair $pair
    }

    It 'passes a migrated and checksummed session, with every item of the table' {
        $warnings = $null
        $readiness = $results | Test-ConfitureCutover -WarningVariable warnings

        $readiness | Should -BeOfType ([Confiture.PowerShell.Types.ConfitureCutoverReadiness])
        @($readiness).Count | Should -Be 1 -Because 'piped results of one session run the gate once'
        $readiness.Ready | Should -BeTrue -Because (($readiness.FailedItems | ForEach-Object { $_.ToString() }) -join '; ')
        $readiness.Items.Check | Should -Be @('Checksum', 'Index', 'Constraint', 'Statistics', 'Journal')
        $readiness.Tables.Table | Should -Be @('public.users')
        $readiness.Tables[0].Ready | Should -BeTrue
        $warnings | Should -BeNullOrEmpty
        $readiness | Format-List | Out-String | Should -Match '(?m)^Tables\s+: 1 of 1 ready'
    }

    It 'returns a single $true with -Quiet' {
        $answer = @(Test-ConfitureCutover -Migration $migration -Quiet)

        $answer.Count | Should -Be 1
        $answer[0] | Should -BeOfType ([bool])
        $answer[0] | Should -BeTrue
    }

    It 'fails once the source changed after the checksum: $false with -Quiet, else a warning that names the item and what to do' {
        Invoke-TestSql -Side Source -Database $pair.Database -Sql "UPDATE users SET email = 'changed@example.com' WHERE id = 3; SELECT pg_stat_force_next_flush();" | Out-Null

        $answer = @(Test-ConfitureCutover -Migration $migration -Quiet -WarningVariable quietWarnings)
        $answer.Count | Should -Be 1
        $answer[0] | Should -BeFalse
        $quietWarnings | Should -BeNullOrEmpty

        $warnings = $null
        $readiness = Test-ConfitureCutover -Migration $migration -WarningVariable warnings
        $readiness.Ready | Should -BeFalse
        $readiness.FailedItems.Check | Should -Be @('Checksum')
        $readiness.FailedItems[0].Table | Should -Be 'public.users'
        $readiness.Tables[0].Failed | Should -Be @('Checksum')
        @($warnings).Count | Should -Be 1
        "$($warnings[0])" | Should -BeLike 'Not ready: Checksum public.users: *1 row change(s) on the source*What to do: *Test-ConfitureMigration -Table users -Checksum*'
    }

    It 'is ready again after a sync and a new checksum, and cleanup leaves no record behind' {
        $null = $results | Invoke-ConfitureTableMigration -Sync -Confirm:$false
        $null = $results | Test-ConfitureMigration -Checksum
        Test-ConfitureCutover -Migration $migration -Quiet | Should -BeTrue

        $migration | Remove-ConfitureFdw
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM pg_namespace WHERE nspname = 'confiture'" | Should -Be '0'
        $script:migration = $null
    }
}
